/**
 * A feature of a hall (zigbee2mqtt's extensions, in small): its constructor only stores what it
 * is given; it owns its tables (migrations), its routes and its bus listeners, registered under
 * its name so stop() can remove them. It reaches other features through their interfaces and
 * the bus, never through their tables.
 */

import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Db, Migration } from './db/db.js';
import type { Auth } from './app/auth.js';
import type { Bus } from './bus.js';
import type { Ledger } from './ledger/ledger.js';

/** What a hall hands each feature. */
export interface FeatureDeps {
  hall: string;
  db: Db;
  ledger: Ledger;
  bus: Bus;
  auth: Auth;
  log: Logger;
  now: () => number;
}

export interface Feature {
  readonly name: string;
  /** Its own tables, applied before start(). */
  readonly migrations?: Migration[];
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
  /** Its HTTP routes, mounted on the hall's server. */
  routes?(app: FastifyInstance): void;
}

export type FeatureFactory = (deps: FeatureDeps) => Feature;
