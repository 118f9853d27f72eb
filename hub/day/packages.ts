/**
 * 一件事一次办 packages: several items, across departments, taken as one ticket. The ticket is
 * served at one package window (`win`), or moves through windows in a set order (each step's
 * `win`; null: any window serving that step's item). When a step's service ends (the staff's
 * next call), the queue's onFinish hook records the step's timing and moves the ticket on to
 * the front of the next step's line; at the last step it ends as usual and its one rating
 * request goes to that window's pad: one rating for the whole package.
 */

import type { Db } from '../db/db.js';
import type { Ledger } from '../ledger/ledger.js';
import type { TicketRow } from '../queue/lookup.js';
import { nextCounter, addHistory } from '../queue/setup.js';
import { itemRow, num, windowRow, windowsFor } from '../queue/views.js';
import { LANE_FRONT, QueueError } from '../queue/types.js';

export interface PackageStep { item: string; win: string | null }
export interface Package { code: string; name: string; win: string | null; limitDays: number; steps: PackageStep[] }
interface PackageRow { code: string; name: string; win: string | null; limit_days: number; steps: string }

export function packageOut(r: PackageRow): Package {
  return { code: r.code, name: r.name, win: r.win, limitDays: num(r.limit_days), steps: JSON.parse(r.steps) as PackageStep[] };
}

export async function packageRow(db: Db, code: string): Promise<Package | undefined> {
  const r = await db.get<PackageRow>(`SELECT * FROM day_packages WHERE code = $1`, [code]);
  return r ? packageOut(r) : undefined;
}

export async function listPackages(db: Db): Promise<Package[]> {
  return (await db.all<PackageRow>(`SELECT * FROM day_packages ORDER BY code`)).map(packageOut);
}

/** Checks every item and window before writing: an unknown one refuses the whole package. */
export async function putPackage(tx: Db, ledger: Ledger, p: Package, at: number): Promise<Package> {
  if (p.win !== null && !(await windowRow(tx, p.win))) throw new QueueError(400, `body.win: window ${p.win} is not set up in this hall`, 'body.win');
  for (const [i, s] of p.steps.entries()) {
    if (!(await itemRow(tx, s.item))) throw new QueueError(400, `body.steps[${i}].item: service item ${s.item} is not set up in this hall`, `body.steps[${i}].item`);
    if (s.win !== null && !(await windowRow(tx, s.win))) throw new QueueError(400, `body.steps[${i}].win: window ${s.win} is not set up in this hall`, `body.steps[${i}].win`);
    if (p.steps.findIndex((x) => x.item === s.item) !== i) throw new QueueError(400, `body.steps[${i}].item: ${s.item} is already step ${p.steps.findIndex((x) => x.item === s.item) + 1}`, `body.steps[${i}].item`);
  }
  await tx.run(`INSERT INTO day_packages (code, name, win, limit_days, steps, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (code) DO UPDATE SET name = $2, win = $3, limit_days = $4, steps = $5, updated_at = $6`, [p.code, p.name, p.win, p.limitDays, JSON.stringify(p.steps), at]);
  await ledger.append(tx, [{ kind: 'day', dev: null, boot: null, seq: null, at, body: { what: 'package', ...p } }]);
  return p;
}

/** Where step `i` of a package is served: the package window, the step's window, or any window serving its item. */
export function stepWindow(p: Package, i: number): string | null {
  return p.win ?? p.steps[i].win;
}

/** The queue's onFinish hook: a package ticket not at its last step moves on; others are left to end. */
export async function finishStep(tx: Db, t: TicketRow, win: string, end: number): Promise<string[] | null> {
  const pt = await tx.get<{ package: string; step: number }>(`SELECT package, step FROM day_package_tickets WHERE ticket = $1`, [t.id]);
  if (!pt) return null;
  const p = await packageRow(tx, pt.package);
  if (!p) return null;
  const step = num(pt.step);
  const started = num(t.served_at ?? t.called_at ?? end);
  await tx.run(`INSERT INTO day_package_steps (ticket, step, item, win, staff, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (ticket, step) DO NOTHING`, [t.id, step, t.item, win, t.staff, started, end]);
  if (step + 1 >= p.steps.length) return null;
  const next = p.steps[step + 1];
  const item = await itemRow(tx, next.item);
  if (!item) return null; // removed since: the package ends here, rated as it is
  const toWin = stepWindow(p, step + 1);
  const order = await nextCounter(tx, t.day, '#order');
  const history = addHistory(t, { at: end, what: 'transferred', win, staff: t.staff, toWin, toItem: item.code, fromItem: t.item });
  // Front of the next line: the citizen has waited once already (as a staff transfer does).
  await tx.run(`UPDATE queue_tickets SET status = 'transferred', item = $2, department = $3, target_win = $4, lane = $5, order_key = $6,
    win = NULL, staff = NULL, served_at = NULL, history = $7 WHERE id = $1`, [t.id, item.code, item.department, toWin, LANE_FRONT, order, history]);
  await tx.run(`UPDATE day_package_tickets SET step = $2 WHERE ticket = $1`, [t.id, step + 1]);
  await tx.run(`UPDATE queue_windows SET current_ticket = NULL, updated_at = $2 WHERE id = $1`, [win, end]);
  return windowsFor(tx, { item: item.code, target_win: toWin });
}
