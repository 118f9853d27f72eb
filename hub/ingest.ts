/**
 * Exactly-once ingest. Device events arrive on sannuo/v1/<site>/+/evt, are decoded and
 * authenticated with protocol.ts, gathered for a few milliseconds and committed in one db.tx
 * (one fsync for the group, not one per event). Inside it, for each event:
 *   dedupe on (dev, boot, seq) in `events` → a duplicate gets its stored verdict again;
 *   otherwise ledger row (kind 'event') → queue.applyEvent → verdict, or a recorded refusal
 *   (`refusals` + ledger kind 'refusal'); then the `events` row with the verdict.
 * Only after the commit are the signed acks and the queue's commands published, so an ack
 * always names something durable, and a hub killed mid-commit leaves the events unacked for
 * the devices to resend.
 *
 * In a district the hall's Db checks the hall's lease inside that same transaction (hub/lease.ts),
 * so a hub that lost the lease commits nothing; ingest then emits 'fenced'.
 *
 * Rejected lines (forged, malformed, unknown device, wrong topic) change nothing; they are
 * logged and counted by reason. Refused lines (authentic, numbered, invalid) are recorded and
 * acked as refused, so one bad event never stalls a device.
 */

import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Db, Migration } from './db/db.js';
import {
  decodeEventPayload, decodeState, encodeAck, encodeCommand, isProtocolError, parseTopic, topicFor,
  PROTOCOL_VERSION, type AckItem, type AnyDeviceEvent, type AnyHubCommand, type CommandBodies, type DecodedEvent, type Role, type Verdict,
} from '../firmware/core/protocol.js';
import { nodeHmac, type Registry } from './registry.js';
import type { Metrics } from './metrics.js';
import type { HubLink } from './mqtt.js';
import { LeaseLostError } from './lease.js';

// ------------------------------------------------------------ the seams ingest needs (apis.md)

export interface LedgerEntry { kind: string; dev: string | null; boot: number | null; seq: number | null; at: number; body: unknown }
export interface LedgerAppender {
  append(tx: Db, entries: LedgerEntry[]): Promise<{ row: number; hash: string }[]>;
}
export type Effect =
  | { kind: 'display'; win: string; body: CommandBodies['display'] }
  | { kind: 'rateReq'; win: string; body: CommandBodies['rateReq'] }
  | { kind: 'hall' };
export interface Applied { verdict: Verdict; reason: string | null; effects: Effect[] }
export interface EventApplier {
  applyEvent(tx: Db, event: AnyDeviceEvent, device: { id: string; role: Role; win: string }): Promise<Applied>;
}

/** Events the queue acts on; boot and state are recorded in the ledger only. */
const QUEUE_EVENTS = new Set(['call', 'recall', 'noShow', 'transfer', 'pause', 'resume', 'rating']);

export interface IngestOptions {
  db: Db;
  ledger: LedgerAppender;
  queue: EventApplier;
  registry: Registry;
  link: HubLink;
  metrics: Metrics;
  log: Logger;
  site: string;
  /** Milliseconds to gather a group. */
  batchWindow: number;
  maxBatch: number;
  now?: () => number;
}

type Numbered = Extract<DecodedEvent, { kind: 'event' } | { kind: 'refused' }>;
interface Outcome { dev: string; boot: number; seq: number; verdict: Verdict; reason: string | null; effects: Effect[] }

const key = (dev: string, boot: number, seq: number) => `${dev}\u0000${boot}\u0000${seq}`;
const ACKS_PER_MESSAGE = 64; // keeps one ack line well under MAX_DOWNLINK_BYTES

/** A bounded metric label from a free-text refusal reason: no ticket numbers or ids. */
export function reasonLabel(reason: string): string {
  return reason.replace(/\b[A-Za-z]*\d[\w-]*/g, '#').replace(/"[^"]*"/g, '"…"').slice(0, 60);
}

export class Ingest extends EventEmitter {
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
  ];

  private pending: Numbered[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly o: IngestOptions) {
    super();
    this.now = o.now ?? Date.now;
  }

  topics(): string[] {
    return [`sannuo/v1/${this.o.site}/+/evt`, `sannuo/v1/${this.o.site}/+/state`];
  }

  /** Events received and not yet committed and acked. */
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
      const decoded = decodeEventPayload(payload, parsed.dev, (dev) => this.o.registry.signingKey(dev), nodeHmac);
      for (const d of decoded) {
        this.o.metrics.eventsIn.inc();
        if (d.kind === 'rejected') {
          this.reject(d.error.code, d.error.message, topic);
          continue;
        }
        this.o.registry.seen(d.kind === 'event' ? d.event.dev : d.dev);
        this.pending.push(d);
      }
      if (this.pending.length >= this.o.maxBatch) this.flush();
      else if (this.pending.length && !this.timer) this.timer = setTimeout(() => this.flush(), this.o.batchWindow);
    } catch (error) {
      this.o.log.error({ err: error, topic: topic.slice(0, 200) }, 'ingest: unexpected error handling a message');
      this.o.metrics.rejected.inc({ reason: 'internal' });
    }
  }

  private reject(reason: string, message: string, topic: string): void {
    this.o.metrics.rejected.inc({ reason });
    this.o.log.warn({ reason, topic: topic.slice(0, 200) }, `rejected: ${message}`);
  }

  private handleState(dev: string, payload: Uint8Array, topic: string): void {
    if (!this.o.registry.get(dev)) return this.reject('unknown-device', `state of device ${dev}, which is not provisioned`, topic);
    if (payload.length === 0) return; // a cleared retained message
    const state = decodeState(payload, dev);
    if (isProtocolError(state)) return this.reject(state.code, state.message, topic);
    const cameOnline = this.o.registry.applyState(state);
    this.o.metrics.devicesOnline.set(this.o.registry.online().length);
    if (cameOnline) void this.sendTime(dev);
  }

  /** Takes everything pending into one transaction; groups run one after another. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.o.maxBatch);
      this.inFlight += batch.length;
      this.chain = this.chain.then(() => this.commitAndAck(batch)).finally(() => { this.inFlight -= batch.length; });
    }
    return this.chain;
  }

  private async commitAndAck(batch: Numbered[]): Promise<void> {
    let outcomes: Outcome[];
    const started = process.hrtime.bigint();
    try {
      outcomes = await this.commit(batch);
    } catch (error) {
      this.o.metrics.commitFailures.inc();
      if (error instanceof LeaseLostError) {
        // Another hub holds the hall now: nothing here may be committed, and retrying one by
        // one would only be refused again. The devices resend to the new holder.
        this.o.log.warn({ hall: error.hall, events: batch.length }, 'ingest: hall lease lost; group not committed, left unacked');
        this.emit('fenced', error);
        return;
      }
      if (batch.length === 1) {
        // Left unacked: the device resends it, and a transient fault heals on its own.
        this.o.log.error({ err: error, dev: devOf(batch[0]), seq: seqOf(batch[0]) }, 'ingest: commit failed; event left unacked');
        return;
      }
      // One bad event must not hold back the others: commit them one by one.
      this.o.log.warn({ err: error, events: batch.length }, 'ingest: group commit failed; retrying one by one');
      for (const one of batch) await this.commitAndAck([one]);
      return;
    }
    this.o.metrics.commitLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.o.metrics.batchSize.observe(batch.length);
    await this.publishOutcomes(outcomes);
  }

  private async commit(batch: Numbered[]): Promise<Outcome[]> {
    const { db, ledger, queue, registry } = this.o;
    const at = this.now();
    return db.tx(async (tx) => {
      const outcomes: Outcome[] = [];
      const inBatch = new Map<string, Outcome>();
      for (const d of batch) {
        const dev = devOf(d), boot = bootOf(d), seq = seqOf(d);
        const k = key(dev, boot, seq);
        const earlier = inBatch.get(k);
        if (earlier) {
          outcomes.push({ ...earlier, effects: [] });
          this.o.metrics.duplicates.inc();
          continue;
        }
        const stored = await tx.get<{ verdict: Verdict; reason: string | null }>('SELECT verdict, reason FROM events WHERE dev = $1 AND boot = $2 AND seq = $3', [dev, boot, seq]);
        let outcome: Outcome;
        if (stored) {
          outcome = { dev, boot, seq, verdict: stored.verdict, reason: stored.reason, effects: [] };
          this.o.metrics.duplicates.inc();
        } else if (d.kind === 'refused') {
          const reason = `${d.error.code}: ${d.error.message}`;
          await this.recordRefusal(tx, dev, boot, seq, reason, d.line, at, d.error.code);
          await tx.run('INSERT INTO events (dev, boot, seq, type, verdict, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [dev, boot, seq, null, 'refused', reason, at]);
          outcome = { dev, boot, seq, verdict: 'refused', reason, effects: [] };
        } else {
          const event = d.event;
          await ledger.append(tx, [{ kind: 'event', dev, boot, seq, at, body: event }]);
          let applied: Applied = { verdict: 'committed', reason: null, effects: [] };
          const device = registry.get(dev)!;
          if (QUEUE_EVENTS.has(event.type)) applied = await queue.applyEvent(tx, event, { id: device.id, role: device.role, win: device.win });
          if (applied.verdict === 'refused') {
            const reason = applied.reason ?? 'refused by the queue';
            await this.recordRefusal(tx, dev, boot, seq, reason, d.line, at, reasonLabel(reason));
            outcome = { dev, boot, seq, verdict: 'refused', reason, effects: [] };
          } else {
            outcome = { dev, boot, seq, verdict: 'committed', reason: null, effects: applied.effects };
            this.o.metrics.committed.inc({ type: event.type });
          }
          await tx.run('INSERT INTO events (dev, boot, seq, type, verdict, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [dev, boot, seq, event.type, outcome.verdict, outcome.reason, at]);
        }
        inBatch.set(k, outcome);
        outcomes.push(outcome);
      }
      return outcomes;
    });
  }

  private async recordRefusal(tx: Db, dev: string, boot: number, seq: number, reason: string, line: string, at: number, label: string): Promise<void> {
    const sha256 = createHash('sha256').update(line).digest('hex');
    await tx.run('INSERT INTO refusals (dev, boot, seq, reason, sha256, at) VALUES ($1, $2, $3, $4, $5, $6)', [dev, boot, seq, reason, sha256, at]);
    await this.o.ledger.append(tx, [{ kind: 'refusal', dev, boot, seq, at, body: { reason, sha256 } }]);
    this.o.metrics.refused.inc({ reason: label });
    this.o.log.info({ dev, boot, seq, reason }, 'event refused and recorded');
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
        const line = encodeAck({ v: PROTOCOL_VERSION, dev, t: this.now(), acks: items.slice(i, i + ACKS_PER_MESSAGE) }, signingKey, nodeHmac);
        if (isProtocolError(line)) {
          this.o.log.error({ dev, err: line.message }, 'ingest: cannot encode ack');
          continue;
        }
        sends.push(this.o.link.publish(topicFor(this.o.site, dev, 'ack'), line).then(() => { this.o.metrics.acksSent.inc(); }));
      }
    }
    for (const o of outcomes) for (const effect of o.effects) sends.push(...this.applyEffect(effect));
    await settleAll(sends, this.o.log);
  }

  /** Sends the commands for effects of changes made outside ingest (the queue's HTTP API). */
  dispatch(effects: Effect[]): Promise<void> {
    return settleAll(effects.flatMap((e) => this.applyEffect(e)), this.o.log);
  }


  private applyEffect(effect: Effect): Promise<void>[] {
    if (effect.kind === 'hall') {
      this.emit('hall');
      return [];
    }
    const role: Role = effect.kind === 'display' ? 'display' : 'pad';
    const targets = this.o.registry.atWindow(effect.win, role);
    if (targets.length === 0) this.o.log.warn({ win: effect.win, role }, `no ${role} provisioned at window ${effect.win}`);
    return targets.map((d) => this.sendCommand({ v: PROTOCOL_VERSION, dev: d.id, t: this.now(), type: effect.kind, body: effect.body } as AnyHubCommand));
  }

  sendCommand(command: AnyHubCommand): Promise<void> {
    const signingKey = this.o.registry.signingKey(command.dev);
    if (!signingKey) return Promise.reject(new Error(`device ${command.dev} is not provisioned`));
    const line = encodeCommand(command, signingKey, nodeHmac);
    if (isProtocolError(line)) {
      this.o.log.error({ dev: command.dev, type: command.type, err: line.message }, 'ingest: cannot encode command');
      return Promise.resolve();
    }
    return this.o.link.publish(topicFor(this.o.site, command.dev, 'cmd'), line).then(() => { this.o.metrics.commandsSent.inc({ type: command.type }); });
  }

  /**
   * A remote settings change: a ledger row (kind 'config': device, settings, who) first, then
   * the signed config command. The device applies it all or nothing and refuses a bad one
   * with a reason; an offline device does not get it (commands are not queued).
   */
  async sendConfig(dev: string, settings: CommandBodies['config'], by: string): Promise<{ at: number }> {
    const at = this.now();
    await this.o.db.tx((tx) => this.o.ledger.append(tx, [{ kind: 'config', dev, boot: null, seq: null, at, body: { settings, by } }]));
    await this.sendCommand({ v: PROTOCOL_VERSION, dev, t: at, type: 'config', body: settings });
    return { at };
  }

  /** A time command, so the device can correct its clock. */
  sendTime(dev: string): Promise<void> {
    return this.sendCommand({ v: PROTOCOL_VERSION, dev, t: this.now(), type: 'time', body: { now: this.now() } })
      .catch((error) => this.o.log.warn({ dev, err: String(error) }, 'time sync failed'));
  }

  /**
   * The hall's lease is gone: stop taking messages and drop what was not committed (the fence
   * would refuse it anyway); the devices still hold it and resend it to the new holder.
   */
  abort(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
    return this.chain;
  }

  /** Stop taking messages, commit what was taken, send its acks. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.flush();
  }
}

async function settleAll(sends: Promise<void>[], log: Logger): Promise<void> {
  const results = await Promise.allSettled(sends);
  for (const r of results) if (r.status === 'rejected') log.warn({ err: String(r.reason) }, 'ingest: publish failed; the device resends and gets it again');
}

function devOf(d: Numbered): string { return d.kind === 'event' ? d.event.dev : d.dev; }
function bootOf(d: Numbered): number { return d.kind === 'event' ? d.event.boot : d.boot; }
function seqOf(d: Numbered): number { return d.kind === 'event' ? d.event.seq : d.seq; }
