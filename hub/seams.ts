/**
 * The seams between ingest, the queue, the ledger and the downlink, defined once:
 * what a change to the hall produces (Effect), what applying a device event answers (Applied),
 * and what is written to the ledger (LedgerEntry, one kind of row each in LedgerKinds).
 */

import type { AnyDeviceEvent, CommandBodies, Role, Verdict } from '../firmware/core/protocol.js';
import type { Db } from './db/db.js';
import type { Logger } from 'pino';
import type { Registry } from './devices/registry.js';
import type { Link } from './mqtt/link.js';
import type { Metrics } from './metrics.js';
import type { Bus } from './bus.js';

/** What a committed change asks the devices and the dashboard for; the downlink sends it. */
export type Effect =
  | { kind: 'display'; win: string; body: CommandBodies['display'] }   // to the window's display
  | { kind: 'rateReq'; win: string; body: CommandBodies['rateReq'] }   // to the window's pad
  | { kind: 'hall' };                                                  // queue state changed (dashboard)

export interface Applied { verdict: Verdict; reason: string | null; effects: Effect[] }

export interface EventApplier {
  applyEvent(tx: Db, event: AnyDeviceEvent, device: { id: string; role: Role; win: string; bound?: boolean }): Promise<Applied>;
}

/**
 * Every kind of ledger row and who writes it. Device rows carry (dev, boot, seq); the others
 * have null there.
 */
export interface LedgerKinds {
  event: 'ingest: an authentic device event';
  refusal: 'ingest: an authentic event refused, with its reason and hash';
  rating: 'queue / channels: a rating, any channel';
  config: 'downlink: a remote settings push';
  case: 'cases: a step of a bad-rating case';
  commitment: 'commitments: a version or publication';
  'online-import': 'commitments: fully-online cases imported';
  exposure: 'channels: the exposure board';
  suggestion: 'channels: the suggestion box';
  panel: 'channels: the supervisory panel';
  staff: 'queue: staff signed in or out';
  user: 'auth: a user created or changed';
  token: 'tokens: an API token created or revoked';
  device: 'registry: a device provisioned, re-keyed, moved, unbound or removed, with who did it';
  ota: 'ota: a firmware image uploaded, a rollout started, paused, resumed, rolled back, advanced or ended, with who did it';
  day: 'day: opening hours set, tickets closed at closing, appointments booked, cancelled, checked in or missed, packages set';
  notice: 'notices: a citizen\'s consent to near-turn notices recorded or withdrawn (the contact as a digest)';
}
export type LedgerKind = keyof LedgerKinds;

export interface LedgerEntry {
  kind: LedgerKind; dev: string | null; boot: number | null; seq: number | null; at: number /* ms */; body: unknown /* JSON */;
  /** JSON.stringify(body), when the caller has that text already (a verified event's signed, canonical text). */
  bodyText?: string;
}

export interface LedgerAppender {
  append(tx: Db, entries: LedgerEntry[]): Promise<{ row: number; hash: string }[]>;
}

/** What both sides of the device link (ingest, downlink) are built on: storage, the devices, the broker, the bus. */
export interface DeviceLinkDeps {
  db: Db;
  ledger: LedgerAppender;
  registry: Registry;
  link: Link;
  metrics: Metrics;
  log: Logger;
  site: string;
  /** Committed events and ratings are emitted here, after their commit. */
  bus: Bus;
  now?: () => number;
}
