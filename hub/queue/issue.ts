/**
 * Issuing a ticket (取号), inside a transaction the caller holds: the queue's own route opens one,
 * and a feature that writes rows of its own beside the ticket (hub/day: an appointment's check-in,
 * a package ticket, tags) issues inside its transaction, so both commit together or not at all.
 * The hooks (QueueHooks) check first, before anything is written, and add their rows after.
 */

import type { Db } from '../db/db.js';
import type { Effect } from '../seams.js';
import { nextCounter } from './setup.js';
import { WAITING, itemRow, num, windowRow, windowsFor } from './views.js';
import {
  LANE_REGULAR, PRIORITY_CLASSES, PRIORITY_RANK, QueueError,
  type IssueChannel, type IssuedTicket, type PriorityClass, type QueueHooks, type TicketHistoryEntry,
} from './types.js';

export interface IssueInput {
  item: string;
  priority: PriorityClass;
  caseNo?: string | null;
  channel?: IssueChannel;
  /** A window the ticket waits for by name (a package's first window), instead of any serving its item. */
  targetWin?: string | null;
}

export async function issueIn(tx: Db, input: IssueInput, at: number, ctx: { day: string; numberDigits: number; hooks: readonly QueueHooks[] }): Promise<{ result: IssuedTicket; effects: Effect[]; windows: string[] }> {
  const item = await itemRow(tx, input.item);
  if (!item) throw new QueueError(400, `item: service item ${input.item} is not set up in this hall`, 'item');
  if (PRIORITY_CLASSES.indexOf(input.priority) < 0) throw new QueueError(400, `priority: expected one of ${PRIORITY_CLASSES.join(', ')}`, 'priority');
  const targetWin = input.targetWin ?? null;
  if (targetWin !== null && !(await windowRow(tx, targetWin))) throw new QueueError(400, `targetWin: window ${targetWin} is not set up in this hall`, 'targetWin');
  for (const h of ctx.hooks) await h.beforeIssue?.(tx, { item: item.code, at });
  const { day } = ctx;
  const n = await nextCounter(tx, day, `prefix:${item.prefix}`);
  const order = await nextCounter(tx, day, '#order');
  const number = item.prefix + String(n).padStart(ctx.numberDigits, '0');
  const id = `${day.replace(/-/g, '')}-${number}`;
  const rank = PRIORITY_RANK[input.priority];
  const history: TicketHistoryEntry[] = [{ at, what: 'issued', win: null, staff: null }];
  await tx.run(`INSERT INTO queue_tickets (id, day, number, item, department, priority, class_rank, case_no, channel, status, lane, order_key,
    issued_at, history, target_win) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'waiting', $10, $11, $12, $13, $14)`,
    [id, day, number, item.code, item.department, input.priority, rank, input.caseNo ?? null, input.channel ?? 'kiosk', LANE_REGULAR, order, at, JSON.stringify(history), targetWin]);
  const ahead = await tx.get<{ n: number }>(`SELECT COUNT(*) AS n FROM queue_tickets WHERE day = $1 AND ${WAITING} AND item = $2
    AND ((target_win IS NULL AND $6 = '') OR target_win = $6)
    AND (lane < $3 OR (lane = $3 AND class_rank < $4) OR (lane = $3 AND class_rank = $4 AND order_key < $5))`, [day, item.code, LANE_REGULAR, rank, order, targetWin ?? '']);
  const result: IssuedTicket = { id, number, item: item.code, priority: input.priority, ahead: ahead ? num(ahead.n) : 0, issuedAt: at };
  for (const h of ctx.hooks) await h.afterIssue?.(tx, result);
  return { result, effects: [{ kind: 'hall' }], windows: await windowsFor(tx, { item: item.code, target_win: targetWin }) };
}
