/**
 * The hub's typed event bus: one map of every event a feature may react to, with typed
 * on/emit pairs. Listeners are registered under an owner (a feature's name), so a feature's
 * stop() removes all of its listeners with off(owner).
 *
 * Rule: an event is emitted after the transaction that made it true has committed, never
 * inside it. A listener that must not miss one (cases on ratingCommitted) also catches up from
 * the ledger when it starts, so a crash between commit and emit loses nothing.
 *
 * emit never throws: a listener's error (or rejected promise) is logged and counted, and the
 * other listeners still run.
 */

import type { Logger } from 'pino';
import type { RatingLevel, UpdateProgress } from '../firmware/core/protocol.js';
import type { Effect } from './seams.js';

export interface HubEvents {
  /** Device events committed in one ingest group (acks are on their way). */
  eventCommitted: { dev: string; boot: number; seq: number; type: string };
  /** A rating is in the ledger, whatever its channel. */
  ratingCommitted: { rating: string; channel: 'pad' | 'phone' | 'default'; level: RatingLevel | number; win: string | null };
  /** The queue committed a change made through HTTP (an issue, a sign-in…); the downlink sends its effects. */
  queueChanged: { effects: Effect[] };
  /** The hall's queue changed: a call, a no-show, a transfer, a pause, a ticket issued, a rating. */
  windowChanged: { win: string | null };
  /** A device's retained state said online (it was not before). */
  deviceOnline: { dev: string };
  deviceOffline: { dev: string };
  /** A device was provisioned, re-keyed or removed. */
  deviceChanged: { dev: string };
  /** District: this hub took, lost (another holds it now) or was fenced out of a hall's lease. */
  leaseTaken: { hall: string; epoch: number };
  leaseLost: { hall: string; reason: string };
  leaseFenced: { hall: string };
  /** Bad-rating cases opened (in one committed transaction). */
  caseOpened: { opened: number };
  /** A device's retained state arrived: the firmware it runs, and its update's progress if one is under way (hub/ota). */
  deviceState: { dev: string; online: boolean; fw: string; upd: UpdateProgress | null };
}

export type HubEvent = keyof HubEvents;
type Listener<K extends HubEvent> = (payload: HubEvents[K]) => void | Promise<void>;

interface Entry { owner: string; listener: Listener<never> }

export class Bus {
  private readonly listeners = new Map<HubEvent, Entry[]>();
  /** Listener failures, for the hub's metrics. */
  failures = 0;

  constructor(private readonly log?: Logger) {}

  on<K extends HubEvent>(event: K, owner: string, listener: Listener<K>): void {
    const list = this.listeners.get(event) ?? [];
    list.push({ owner, listener: listener as Listener<never> });
    this.listeners.set(event, list);
  }

  /** Removes every listener of `owner`. */
  off(owner: string): void {
    for (const [event, list] of this.listeners) {
      const kept = list.filter((e) => e.owner !== owner);
      if (kept.length) this.listeners.set(event, kept);
      else this.listeners.delete(event);
    }
  }

  /** Whether anyone listens: lets a hot path skip building payloads nobody reads. */
  heard(event: HubEvent): boolean {
    return this.listeners.has(event);
  }

  emit<K extends HubEvent>(event: K, payload: HubEvents[K]): void {
    const list = this.listeners.get(event);
    if (!list) return;
    for (const { owner, listener } of list) {
      try {
        const result = (listener as Listener<K>)(payload);
        if (result && typeof (result as Promise<void>).catch === 'function') (result as Promise<void>).catch((error: unknown) => this.failed(event, owner, error));
      } catch (error) {
        this.failed(event, owner, error);
      }
    }
  }

  private failed(event: HubEvent, owner: string, error: unknown): void {
    this.failures++;
    this.log?.error({ err: error, event, owner }, 'bus listener failed');
  }
}
