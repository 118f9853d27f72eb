/**
 * One ingest group's transaction (hub/ingest/ingest.ts gathers the groups and acks them): the
 * stored verdicts of resends, ingest's own refusals (seq window, gaps, bad lines), the queue's
 * verdicts, the ledger rows in event order, and the marks of every seq decided.
 */

import { createHash } from 'node:crypto';
import type { Db } from '../db/db.js';
import type { Registry } from '../devices/registry.js';
import type { DecodedEvent, Verdict } from '../../firmware/core/protocol.js';
import type { Applied, Effect, EventApplier, LedgerAppender, LedgerEntry } from '../seams.js';
import { eventKey as key, GroupMarks, refusalReasons } from './event-marks.js';
import { codeLabel, reasonLabel, type Tally } from './counting.js';

export type Numbered = Extract<DecodedEvent, { kind: 'event' } | { kind: 'refused' }>;
export interface Outcome { dev: string; boot: number; seq: number; verdict: Verdict; reason: string | null; effects: Effect[]; type?: string; level?: number; win?: string | null }
export interface GroupDeps { ledger: LedgerAppender; queue: EventApplier; registry: Registry; at: number }

/** Events the queue acts on; boot and state are recorded in the ledger only. */
const QUEUE_EVENTS = new Set(['call', 'recall', 'noShow', 'transfer', 'pause', 'resume', 'rating', 'session']);

export function devOf(d: Numbered): string { return d.kind === 'event' ? d.event.dev : d.dev; }
export function bootOf(d: Numbered): number { return d.kind === 'event' ? d.event.boot : d.boot; }
export function seqOf(d: Numbered): number { return d.kind === 'event' ? d.event.seq : d.seq; }

/** A verified line without its signature: `,"sig":"<64 hex>"` before the closing brace. */
function signedText(line: string): string {
  return line.slice(0, line.length - SIGNATURE_SUFFIX) + '}';
}
const SIGNATURE_SUFFIX = ',"sig":"'.length + 64 + '"}'.length;

/**
 * Inside the group's transaction: each event's verdict (a stored one for a resend, a refusal
 * recorded with its reason and hash, or the queue's answer), the ledger rows in event order and
 * the dedupe marks. The tally is filled here and counted by the caller after the commit.
 */
export async function decideGroup(tx: Db, batch: Numbered[], tally: Tally, o: GroupDeps): Promise<Outcome[]> {
  const { ledger, queue, registry, at } = o;
  tally.reset(); // a retried transaction body counts afresh
  const outcomes: Outcome[] = [];
  if (!batch.length) return outcomes;
        const { marks, stored } = await storedVerdicts(tx, batch);
  const inBatch = new Map<string, Outcome>();
  // Ledger rows are appended together, in event order; the queue appends rows of its own,
  // so what is gathered goes in before each queue event.
  const entries: LedgerEntry[] = [];
  const appendGathered = async () => { if (entries.length) await ledger.append(tx, entries.splice(0)); };
  for (const d of batch) {
    const dev = devOf(d), boot = bootOf(d), seq = seqOf(d);
    const k = key(dev, boot, seq);
    const earlier = inBatch.get(k);
    if (earlier) {
      outcomes.push({ ...earlier, effects: [], type: undefined });
      tally.duplicates++;
      continue;
    }
    const prior = stored.get(k);
    let outcome: Outcome;
    const bound = prior ? null : marks.bound(dev, boot, seq);
    if (prior) {
      outcome = { dev, boot, seq, verdict: prior.verdict, reason: prior.reason, effects: [] };
      tally.duplicates++;
    } else if (bound) {
      const reason = `${bound.code}: ${bound.message}`;
      await recordRefusal(tx, entries, tally, dev, boot, seq, reason, d.line, at, bound.code);
      outcome = { dev, boot, seq, verdict: 'refused', reason, effects: [] };
      if (!bound.mark) {
        marks.flagRefusedUnmarked(dev, boot);
        inBatch.set(k, outcome);
        outcomes.push(outcome);
        continue;
      }
    } else if (d.kind === 'refused') {
      const reason = `${d.error.code}: ${d.error.message}`;
      await recordRefusal(tx, entries, tally, dev, boot, seq, reason, d.line, at, codeLabel(d.error.code));
      outcome = { dev, boot, seq, verdict: 'refused', reason, effects: [] };
    } else {
      const event = d.event;
      // The signed text is the event's canonical JSON (checked at decode), i.e. JSON.stringify(event).
      entries.push({ kind: 'event', dev, boot, seq, at, body: event, bodyText: signedText(d.line) });
      let applied: Applied = { verdict: 'committed', reason: null, effects: [] };
      if (QUEUE_EVENTS.has(event.type)) {
        await appendGathered();
        const device = registry.get(dev)!;
        applied = await queue.applyEvent(tx, event, { id: device.id, role: device.role, win: device.win, bound: device.bound });
      }
      if (applied.verdict === 'refused') {
        const reason = applied.reason ?? 'refused by the queue';
        await recordRefusal(tx, entries, tally, dev, boot, seq, reason, d.line, at, reasonLabel(reason));
        outcome = { dev, boot, seq, verdict: 'refused', reason, effects: [] };
      } else {
        outcome = { dev, boot, seq, verdict: 'committed', reason: null, effects: applied.effects, type: event.type };
        if (event.type === 'rating') { outcome.level = event.body.level; outcome.win = event.body.win; }
        tally.committed.set(event.type, (tally.committed.get(event.type) ?? 0) + 1);
      }
    }
    marks.add(dev, boot, seq);
    inBatch.set(k, outcome);
    outcomes.push(outcome);
  }
  await appendGathered();
  await marks.save(tx);
  return outcomes;
}

/** The batch's marks, and the stored verdicts of those events of it decided already. */
async function storedVerdicts(tx: Db, batch: Numbered[]): Promise<{ marks: GroupMarks; stored: Map<string, { verdict: Verdict; reason: string | null }> }> {
  const marks = await GroupMarks.load(tx, batch.map((d) => [devOf(d), bootOf(d)]));
  const decided: { dev: string; boot: number; seq: number }[] = [];
  // Undecided seqs of a flagged row may have been refused unmarked (SeqMarks.bound): looked up too.
  const maybe: { dev: string; boot: number; seq: number }[] = [];
  for (const d of batch) {
    const dev = devOf(d), boot = bootOf(d), seq = seqOf(d);
    if (marks.decided(dev, boot, seq)) decided.push({ dev, boot, seq });
    else if (marks.flagged(dev, boot)) maybe.push({ dev, boot, seq });
  }
  const stored = new Map<string, { verdict: Verdict; reason: string | null }>();
  if (!decided.length && !maybe.length) return { marks, stored };
  const refused = await refusalReasons(tx, decided.concat(maybe));
  for (const { dev, boot, seq } of decided) {
    const k = key(dev, boot, seq);
    const reason = refused.get(k);
    stored.set(k, reason === undefined ? { verdict: 'committed', reason: null } : { verdict: 'refused', reason });
  }
  for (const { dev, boot, seq } of maybe) {
    const k = key(dev, boot, seq);
    const reason = refused.get(k);
    if (reason !== undefined) stored.set(k, { verdict: 'refused', reason });
  }
  return { marks, stored };
}

/** The refusals row now; its ledger row joins `entries`, appended in order with the rest. */
async function recordRefusal(tx: Db, entries: LedgerEntry[], tally: Tally, dev: string, boot: number, seq: number, reason: string, line: string, at: number, label: string): Promise<void> {
  const sha256 = createHash('sha256').update(line).digest('hex');
  await tx.run('INSERT INTO refusals (dev, boot, seq, reason, sha256, at) VALUES ($1, $2, $3, $4, $5, $6)', [dev, boot, seq, reason, sha256, at]);
  entries.push({ kind: 'refusal', dev, boot, seq, at, body: { reason, sha256 } });
  tally.refused.set(label, (tally.refused.get(label) ?? 0) + 1);
  tally.refusals.push({ dev, boot, seq, reason });
}
