/**
 * The queue's interface for the hall's front (hub/front/): voiding a ticket whose print failed,
 * and the reads the hall board and the announcer need (the last calls, a window's called ticket,
 * the ticket a transfer just sent to a window). The queue owns these tables; the front calls
 * these instead of running its own SQL on queue_*.
 */

import type { Db } from '../db/db.js';
import type { Effect } from '../seams.js';
import { ticketById } from './lookup.js';
import { addHistory } from './setup.js';
import { displayBody, num, windowRow, windowsFor } from './views.js';
import { QueueError, type TicketHistoryEntry } from './types.js';

/**
 * A ticket issued but never handed over (its print failed) is voided: it leaves the line, its
 * number is not reused, and its history says why. Only a ticket still waiting may be voided.
 * Returns the display effects of the windows whose waiting count dropped.
 */
export async function voidTicketRow(tx: Db, id: string, reason: string, at: number, day: string): Promise<Effect[]> {
  const t = await ticketById(tx, id);
  if (!t) throw new QueueError(404, `ticket ${id} was not issued`, 'ticket');
  if (t.status !== 'waiting') throw new QueueError(409, `ticket ${t.number} is ${t.status}; only a waiting ticket may be voided`, 'ticket');
  await tx.run(`UPDATE queue_tickets SET status = 'void', history = $2 WHERE id = $1`,
    [id, addHistory(t, { at, what: 'void', win: null, staff: null, reason })]);
  const effects: Effect[] = [];
  for (const win of await windowsFor(tx, t)) {
    const w = await windowRow(tx, win);
    if (w) effects.push({ kind: 'display', win, body: await displayBody(tx, w, day, false) });
  }
  effects.push({ kind: 'hall' });
  return effects;
}

export interface CallRow { number: string; win: string; item: string; at: number }

/** Today's last `limit` calls (first calls and recalls), newest first, from the tickets' histories. */
export async function recentCalls(db: Db, day: string, limit: number): Promise<CallRow[]> {
  // Tickets called today, the most recently touched first; their histories hold every (re)call.
  const rows = await db.all<{ number: string; item: string; history: string }>(
    `SELECT number, item, history FROM queue_tickets WHERE day = $1 AND called_at IS NOT NULL ORDER BY called_at DESC LIMIT ${Math.max(1, Math.floor(limit * 2))}`, [day]);
  const calls: CallRow[] = [];
  for (const r of rows) {
    const history = JSON.parse(r.history) as TicketHistoryEntry[];
    // A ticket appears once, at its latest call: the board lists who was sent where.
    for (let i = history.length - 1; i >= 0; i--) {
      const h = history[i];
      if ((h.what === 'called' || h.what === 'recalled') && h.win) { calls.push({ number: r.number, win: h.win, item: r.item, at: h.at }); break; }
    }
  }
  return calls.sort((a, b) => b.at - a.at).slice(0, limit);
}

/** The ticket a window has called now, with its item; undefined when none. */
export async function calledAt(db: Db, win: string): Promise<{ number: string; item: string; status: string } | undefined> {
  const w = await windowRow(db, win);
  const t = w?.current_ticket ? await ticketById(db, w.current_ticket) : undefined;
  return t ? { number: t.number, item: t.item, status: t.status } : undefined;
}

/** The ticket `win` transferred last today to another window by name, if its last step is that transfer. */
export async function lastTransferFrom(db: Db, win: string, day: string): Promise<{ number: string; item: string; toWin: string; at: number } | undefined> {
  const rows = await db.all<{ number: string; item: string; history: string; transfer_count: number }>(
    `SELECT number, item, history, transfer_count FROM queue_tickets WHERE day = $1 AND status = 'transferred' AND target_win IS NOT NULL`, [day]);
  let best: { number: string; item: string; toWin: string; at: number } | undefined;
  for (const r of rows) {
    if (num(r.transfer_count) < 1) continue;
    const history = JSON.parse(r.history) as TicketHistoryEntry[];
    const last = history[history.length - 1];
    if (last?.what === 'transferred' && last.win === win && last.toWin && (!best || last.at > best.at)) best = { number: r.number, item: r.item, toWin: last.toWin, at: last.at };
  }
  return best;
}
