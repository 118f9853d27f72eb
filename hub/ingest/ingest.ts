/**
 * Exactly-once ingest. Device events arrive on sannuo/v1/<site>/+/evt, are decoded and
 * authenticated with protocol.ts, gathered for a few milliseconds and committed in one db.tx
 * (one fsync for the group, not one per event). Inside it, for each event:
 *   dedupe on (dev, boot, seq) against the device's marks (hub/ingest/event-marks.ts) → a duplicate
 *   gets its stored verdict again (refused with its `refusals` row's reason, else committed);
 *   otherwise ledger row (kind 'event') → queue.applyEvent → verdict, or a recorded refusal
 *   (`refusals` + ledger kind 'refusal'); then the seq is marked decided.
 * Only after the commit are the signed acks and the queue's commands published, so an ack
 * always names something durable, and a hub killed mid-commit leaves the events unacked for
 * the devices to resend.
 *
 * In a district the hall's Db checks the hall's lease inside that same transaction (hub/district/lease.ts),
 * so a hub that lost the lease commits nothing; ingest then emits leaseFenced on the bus.
 *
 * After each commit the bus hears eventCommitted and ratingCommitted (hub/bus.ts).
 *
 * Rejected lines (forged, malformed, unknown device, wrong topic) change nothing; they are
 * logged and counted by reason. Refused lines (authentic, numbered, invalid) are recorded and
 * acked as refused, so one bad event never stalls a device.
 */

import type { Db, Migration } from '../db/db.js';
import { eventMarksMigration } from './event-marks.js';
import {
  decodeEventPayload, decodeState, encodeAck, eventOf, isProtocolError, parseTopic, topicFor,
  PROTOCOL_VERSION, TOPIC_ROOT, type AckItem,
} from '../../firmware/core/protocol.js';
import { nodeHmac } from '../devices/registry.js';
import type { CommitHealth } from '../health.js';
import { codeLabel, isStorageFailure, Tally } from './counting.js';
import { bootOf, decideGroup, devOf, seqOf, type Numbered, type Outcome } from './group.js';

export { METRIC_LABELS, SEQ_REFUSALS, codeLabel, reasonLabel, isStorageFailure } from './counting.js';
import { LeaseLostError } from '../district/lease.js';
import { NODE_TEXT } from '../text.js';
import { outsideTransactions } from '../root-context.js';
import { settleLogged } from '../log.js';
import type { DeviceLinkDeps, EventApplier, LedgerAppender } from '../seams.js';
import type { Downlink } from '../downlink/downlink.js';

export type { Applied, Effect, EventApplier, LedgerAppender, LedgerEntry } from '../seams.js';

/** Caller keys: someone waits at the window for the display, so these skip the batch window. */
const PROMPT_EVENTS = new Set(['call', 'recall', 'noShow', 'transfer', 'pause', 'resume']);

export interface IngestOptions extends DeviceLinkDeps {
  queue: EventApplier;
  /** Sends the commands a committed event asked for (display, rating request). */
  downlink: Pick<Downlink, 'dispatch'>;
  /** Milliseconds to gather a group. */
  batchWindow: number;
  maxBatch: number;
  /** Hears each group's commit or failure: /readyz and the commit-failure log (hub/health.ts). */
  health?: Pick<CommitHealth, 'committed' | 'failed'>;
}


const ACKS_PER_MESSAGE = 64; // keeps one ack line well under MAX_DOWNLINK_BYTES

export class Ingest {
  static migrations: Migration[] = [
    {
      id: 'ingest/001-events',
      sql: () => `CREATE TABLE IF NOT EXISTS events (
        dev TEXT NOT NULL,
        boot BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        type TEXT,
        verdict TEXT NOT NULL,
        reason TEXT,
        at BIGINT NOT NULL,
        PRIMARY KEY (dev, boot, seq)
      );
      CREATE TABLE IF NOT EXISTS refusals (
        dev TEXT NOT NULL,
        boot BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        reason TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (dev, boot, seq)
      )`,
    },
    eventMarksMigration,
  ];

  private pending: Numbered[] = [];
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** A group's tx is waiting for the Db; its body takes whatever is pending when it starts. */
  private gathering = false;
  /** Groups started and not yet committed and acked. */
  private readonly groups = new Set<Promise<void>>();
  private inFlight = 0;
  private stopped = false;
  /** Whether this ingest holds the link's intake (backpressure, see hold()). */
  private holding = false;
  private readonly now: () => number;
  private intake: { hold(held: boolean): void } | undefined;

  constructor(private readonly o: IngestOptions) {
    this.now = o.now ?? Date.now;
  }

  topics(): string[] {
    return [...this.eventTopics(), ...this.stateTopics()];
  }

  eventTopics(): string[] {
    return [`${TOPIC_ROOT}/${this.o.site}/+/evt`];
  }

  stateTopics(): string[] {
    return [`${TOPIC_ROOT}/${this.o.site}/+/state`];
  }

  /** Events arrive (also) through an intake thread (hub/mqtt/intake.ts), which backpressure must hold too. */
  useIntake(intake: { hold(held: boolean): void }): void {
    this.intake = intake;
  }

  /**
   * Backpressure: above this many events received and not yet committed, the link stops
   * taking messages (the broker keeps them, the devices hold and resend what stays unacked),
   * and it resumes below half of it. Without it a reconnect storm is pulled into memory far
   * faster than it commits; acks then lag past the devices' resend and the load multiplies.
   */
  private highWater(): number {
    return Math.max(4 * this.o.maxBatch, 1024);
  }

  private hold(on: boolean): void {
    this.holding = on;
    this.o.link.hold(this, on);
    this.intake?.hold(on);
  }

  /** Events received and not yet committed. */
  inFlightCount(): number {
    return this.inFlight + this.pending.length;
  }

  /** Called by the MQTT link for every message on our topics. Never throws. */
  handle(topic: string, payload: Uint8Array): void {
    if (this.stopped) return;
    try {
      const parsed = parseTopic(topic);
      if (isProtocolError(parsed)) return this.reject(parsed.code, parsed.message, topic);
      if (parsed.site !== this.o.site) return this.reject('bad-topic', `topic site ${parsed.site} is not this hub's site ${this.o.site}`, topic);
      if (parsed.channel === 'state') return this.handleState(parsed.dev, payload, topic);
      if (parsed.channel !== 'evt') return; // our own acks and commands, if a broker echoes them
      const decoded = decodeEventPayload(payload, parsed.dev, (dev) => this.o.registry.signingKey(dev), nodeHmac, NODE_TEXT);
      let prompt = false;
      let taken = 0;
      this.o.metrics.eventsIn.inc(decoded.length);
      for (const d of decoded) {
        if (d.kind === 'rejected') {
          this.reject(d.error.code, d.error.message, topic);
          continue;
        }
        if (d.kind === 'event' && PROMPT_EVENTS.has(d.event.type)) prompt = true;
        this.pending.push(d);
        taken++;
      }
      // Every numbered line is the topic's device (the decoder rejects any other dev).
      if (taken) this.o.registry.seen(parsed.dev);
      this.queued(prompt);
    } catch (error) {
      this.o.log.error({ err: error, topic: topic.slice(0, 200) }, 'ingest: unexpected error handling a message');
      this.o.metrics.rejected.inc({ reason: 'internal' });
    }
  }

  /**
   * Lines the intake thread verified with the device's key (signature, schema, canonical form):
   * parsed here again, without a second check. Never throws.
   */
  takeVerified(dev: string, lines: string[]): void {
    if (this.stopped) return;
    // The intake thread may still hold the key of a device removed a moment ago.
    if (!this.o.registry.get(dev)) return this.reject('unknown-device', `events of device ${dev}, which is no longer provisioned`, dev);
    try {
      let prompt = false;
      this.o.metrics.eventsIn.inc(lines.length);
      for (const line of lines) {
        const event = eventOf(JSON.parse(line) as Record<string, unknown>);
        if (PROMPT_EVENTS.has(event.type)) prompt = true;
        this.pending.push({ kind: 'event', event, line });
      }
      this.o.registry.seen(dev);
      this.queued(prompt);
    } catch (error) {
      this.o.log.error({ err: error, dev }, 'ingest: unexpected error taking verified events');
      this.o.metrics.rejected.inc({ reason: 'internal' });
    }
  }

  /** Events were added to pending: a group is scheduled, and the link held above the high-water mark. */
  private queued(prompt: boolean): void {
    this.schedule(prompt);
    if (!this.holding && this.inFlightCount() >= this.highWater()) this.hold(true);
  }

  private reject(reason: string, message: string, topic: string): void {
    this.o.metrics.rejected.inc({ reason: codeLabel(reason) });
    this.o.log.warn({ reason, topic: topic.slice(0, 200) }, `rejected: ${message}`);
  }

  private handleState(dev: string, payload: Uint8Array, topic: string): void {
    if (!this.o.registry.get(dev)) return this.reject('unknown-device', `state of device ${dev}, which is not provisioned`, topic);
    if (payload.length === 0) return; // a cleared retained message
    const state = decodeState(payload, dev);
    if (isProtocolError(state)) return this.reject(state.code, state.message, topic);
    // A device coming online is a deviceOnline on the bus: the downlink sends it time, config and state.
    this.o.registry.applyState(state);
    this.o.metrics.devicesOnline.set(this.o.registry.onlineCount());
  }

  /**
   * Starts a group now (a caller key, or a full group) or after the batch window. While a group
   * waits for the Db, newer events join it; groups commit back to back (the Db serializes
   * them, and a group's fsync overlaps the next group's body), each publishing its acks once
   * its own tx has resolved, without holding up the next.
   */
  private schedule(prompt: boolean): void {
    if (!this.pending.length || this.gathering) return;
    if (prompt || this.pending.length >= this.o.maxBatch) this.startGroup();
    else if (this.o.batchWindow === 0) {
      // No window: the group takes what this turn of the event loop read, then starts.
      if (!this.immediate) this.immediate = setImmediate(() => { this.immediate = undefined; this.startGroup(); });
    } else if (!this.timer) this.timer = setTimeout(() => this.startGroup(), this.o.batchWindow);
  }

  private startGroup(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.gathering || !this.pending.length) return;
    this.gathering = true;
    let taken: Numbered[] = [];
    const take = (): Numbered[] => {
      this.gathering = false;
      taken = this.pending.splice(0, this.o.maxBatch);
      this.inFlight += taken.length;
      // More than a group's worth: the next one queues now (startGroup keeps it out of this
      // group's transaction, inside whose body take() runs).
      if (this.pending.length) this.startGroup();
      return taken;
    };
    let counted = true;
    // Once the group's commit is over (not its PUBACKs: those arrive on the link, which may be
    // held), it no longer counts towards the backpressure mark.
    const committed = () => {
      if (!counted) return;
      counted = false;
      this.inFlight -= taken.length;
      if (this.holding && this.inFlightCount() <= this.highWater() / 2) this.hold(false);
    };
    // Its own transaction whoever starts it: a db.tx() begun in a running transaction's async
    // context would join that one as a savepoint, resolved (and acked) before the outer COMMIT.
    const group: Promise<void> = outsideTransactions(() => this.commitAndAck(take, committed))
      .catch((error: unknown) => this.o.log.error({ err: error }, 'ingest: unexpected error in a commit group'))
      .finally(() => {
        committed();
        this.groups.delete(group);
      });
    this.groups.add(group);
  }

  /** Commits everything pending and waits until every group so far is committed and acked. */
  async flush(): Promise<void> {
    this.startGroup();
    while (this.groups.size) await Promise.allSettled([...this.groups]);
  }

  /** `take` is called once, when the group's transaction starts (or when it failed to). */
  private async commitAndAck(take: () => Numbered[], committed?: () => void): Promise<void> {
    let batch: Numbered[] | undefined;
    const get = () => (batch ??= take());
    let outcomes: Outcome[];
    const started = process.hrtime.bigint();
    try {
      outcomes = await this.commit(get);
      committed?.();
      this.o.health?.committed();
    } catch (error) {
      const failed = get();
      this.o.metrics.commitFailures.inc();
      if (error instanceof LeaseLostError) {
        // Another hub holds the hall now: nothing here may be committed, and retrying one by
        // one would only be refused again. The devices resend to the new holder.
        this.o.log.warn({ hall: error.hall, events: failed.length }, 'ingest: hall lease lost; group not committed, left unacked');
        this.o.bus.emit('leaseFenced', { hall: error.hall });
        return;
      }
      // Logged by the health's condition (once when commits start failing, then a summary per
      // interval, once when they work again), not one line per event per resend.
      if (this.o.health) this.o.health.failed(error);
      if (failed.length <= 1 || isStorageFailure(error)) {
        // Left unacked: the devices resend, and a transient fault heals on its own.
        if (!this.o.health) this.o.log.error({ err: error, events: failed.length }, 'ingest: commit failed; events left unacked');
        return;
      }
      // One bad event must not hold back the others: commit them one by one.
      this.o.log.warn({ err: error, events: failed.length }, 'ingest: group commit failed; retrying one by one');
      for (const one of failed) await this.commitAndAck(() => [one]);
      return;
    }
    if (!outcomes.length) return;
    this.o.metrics.commitLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.o.metrics.batchSize.observe(outcomes.length);
    const published = this.publishOutcomes(outcomes);
    this.announce(outcomes);
    await published;
  }

  /** One group's transaction (hub/ingest/group.ts); its tally is counted only once it committed. */
  private async commit(get: () => Numbered[]): Promise<Outcome[]> {
    const tally = new Tally();
    const outcomes = await this.o.db.tx((tx) => decideGroup(tx, get(), tally, { ledger: this.o.ledger, queue: this.o.queue, registry: this.o.registry, at: this.now() }));
    // Counted once committed (and once per type per group: a labelled counter's lookup per event adds up).
    tally.apply(this.o.metrics, this.o.log);
    return outcomes;
  }

  /** The bus hears what this group committed (duplicates, resent, are not news). */
  private announce(outcomes: Outcome[]): void {
    const bus = this.o.bus;
    const events = bus.heard('eventCommitted');
    for (const o of outcomes) {
      if (o.verdict !== 'committed' || o.type === undefined) continue;
      if (events) bus.emit('eventCommitted', { dev: o.dev, boot: o.boot, seq: o.seq, type: o.type });
      if (o.type === 'rating') bus.emit('ratingCommitted', { rating: `${o.dev}:${o.boot}:${o.seq}`, channel: 'pad', level: o.level ?? 0, win: o.win ?? null });
    }
  }

  private async publishOutcomes(outcomes: Outcome[]): Promise<void> {
    const byDev = new Map<string, AckItem[]>();
    for (const o of outcomes) {
      let items = byDev.get(o.dev);
      if (!items) byDev.set(o.dev, (items = []));
      items.push({ boot: o.boot, seq: o.seq, verdict: o.verdict, reason: o.reason });
    }
    const sends: Promise<void>[] = [];
    for (const [dev, items] of byDev) {
      const signingKey = this.o.registry.signingKey(dev);
      if (!signingKey) continue;
      for (let i = 0; i < items.length; i += ACKS_PER_MESSAGE) {
        const line = encodeAck({ v: PROTOCOL_VERSION, dev, t: this.now(), acks: items.slice(i, i + ACKS_PER_MESSAGE) }, signingKey, nodeHmac, NODE_TEXT);
        if (isProtocolError(line)) {
          this.o.log.error({ dev, err: line.message }, 'ingest: cannot encode ack');
          continue;
        }
        sends.push(this.o.link.publish(topicFor(this.o.site, dev, 'ack'), line).then(() => { this.o.metrics.acksSent.inc(); }));
      }
    }
    const effects = outcomes.flatMap((o) => o.effects);
    if (effects.length) sends.push(this.o.downlink.dispatch(effects));
    await settleLogged(sends, this.o.log, 'ingest: publish failed; the device resends and gets it again');
  }

  /**
   * The hall's lease is gone: stop taking messages and drop what was not committed (the fence
   * would refuse it anyway); the devices still hold it and resend it to the new holder.
   */
  abort(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    this.timer = undefined;
    this.pending = [];
    if (this.holding) this.hold(false);
    return Promise.allSettled([...this.groups]).then(() => undefined);
  }

  /** Stop taking messages, commit what was taken, send its acks. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.flush();
  }
}


