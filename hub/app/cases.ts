/**
 * The bad-rating workflow (差评回访 / 整改 / 反馈 / 复核): every rating of level 1–2 opens one case.
 *
 *   callback (回访, due callbackDays working days after the rating)
 *   → rectify (整改, due rectifyDays working days after the rating)
 *   → feedback (反馈 to the citizen, due feedbackDays after rectification)
 *   → review (supervisor, due reviewDays after feedback) → closed
 * An appeal (申诉复核) by the rated staff member may be filed while the case is open; a supervisor
 * upholds it (the case closes with outcome 'appeal-upheld'; the rating itself never changes) or
 * rejects it (the workflow goes on). Every step is a row in app_case_steps and a ledger row of
 * kind 'case', in the same transaction.
 *
 * Cases are opened from the ledger: sync() reads 'rating' rows after a watermark kept in
 * app_state, and opens cases in the same transaction that moves the watermark. So a hub killed
 * at any moment neither loses nor doubles a case, and every channel (pad or phone) is covered
 * the same way. openFromRatings(tx, …) does the same inside a caller's transaction.
 */

import { createHmac } from 'node:crypto';
import { BAD_RATING_MAX } from '../../firmware/core/protocol.js';
import type { Db } from '../db/db.js';
import type { Ledger } from '../ledger/ledger.js';
import type { WorkingCalendar } from './calendar.js';
import type { User } from './auth.js';
import { AppError, num, numOrNull } from './http-util.js';

export type CaseStatus = 'callback' | 'rectify' | 'feedback' | 'review' | 'closed';
export const OPEN_STATUSES: readonly CaseStatus[] = ['callback', 'rectify', 'feedback', 'review'];

export interface CasePolicy {
  /** Working days to call the citizen back, counted from the rating. */
  callbackDays: number;
  /** Working days to rectify, counted from the rating. */
  rectifyDays: number;
  /** Working days to give the citizen feedback after rectification. */
  feedbackDays: number;
  /** Working days for the supervisor's review after feedback. */
  reviewDays: number;
}
export const DEFAULT_CASE_POLICY: CasePolicy = { callbackDays: 1, rectifyDays: 15, feedbackDays: 1, reviewDays: 3 };

export interface CaseStep { n: number; at: number; step: string; by: string | null; note: string | null; assignee: string | null; due: number | null }
export interface Case {
  id: string; rating: string; ticket: string | null; number: string | null; level: number; reason: string | null; channel: string;
  win: string | null; staff: string | null; item: string | null; department: string | null; ratedAt: number; openedAt: number;
  status: CaseStatus; outcome: string | null; assignee: string | null; due: number | null; overdue: boolean;
  callbackDue: number; rectifyDue: number; callbackAt: number | null; rectifiedAt: number | null; feedbackAt: number | null; closedAt: number | null;
  appeal: 'pending' | 'upheld' | 'rejected' | null; appealReason: string | null; appealAt: number | null; appealDecidedAt: number | null;
  steps?: CaseStep[];
}

/**
 * A case as the rated staff member sees it (issue 18, finding 6): the day of the rating, never its
 * time; no ticket, number or rating id that leads back to the citizen (the id is an alias, see
 * staffAlias); the steps by name and day,
 * and no notes but their own appeal's (a callback note holds the citizen's name and phone number).
 */
export interface StaffCase {
  id: string; level: number; reason: string | null; channel: string; win: string | null; staff: string | null; item: string | null; department: string | null;
  /** The hall's local day of the rating, YYYY-MM-DD. */
  ratedDay: string;
  status: CaseStatus; outcome: string | null; overdue: boolean;
  /** The local day the current step is due. */
  dueDay: string | null;
  appeal: Case['appeal']; appealReason: string | null; appealDay: string | null; appealDecidedDay: string | null;
  steps?: { n: number; day: string; step: string; note: string | null }[];
}

/** The part of a ledger 'rating' body (hub/queue/types.ts Rating, recorded by hub/ratings/) a case needs. */
export interface RatingRecord { id: string; ticket: string | null; number: string | null; level: number; reason: string | null; channel?: string; win: string | null; staff: string | null; item: string | null; department: string | null; t: number; bound?: string }

const WATERMARK = 'cases.ledgerRow';
const SYNC_PAGE = 5000; // ledger rows per sync transaction

type CaseRow = Record<string, string | number | null>;

function caseOut(r: CaseRow, now: number): Case {
  const due = numOrNull(r.due);
  return {
    id: r.id as string, rating: r.rating as string, ticket: r.ticket as string | null, number: r.number as string | null, level: num(r.level),
    reason: r.reason as string | null, channel: r.channel as string, win: r.win as string | null, staff: r.staff as string | null,
    item: r.item as string | null, department: r.department as string | null, ratedAt: num(r.rated_at), openedAt: num(r.opened_at),
    status: r.status as CaseStatus, outcome: r.outcome as string | null, assignee: r.assignee as string | null, due,
    overdue: r.status !== 'closed' && due !== null && now > due,
    callbackDue: num(r.callback_due), rectifyDue: num(r.rectify_due), callbackAt: numOrNull(r.callback_at), rectifiedAt: numOrNull(r.rectified_at),
    feedbackAt: numOrNull(r.feedback_at), closedAt: numOrNull(r.closed_at), appeal: r.appeal as Case['appeal'], appealReason: r.appeal_reason as string | null,
    appealAt: numOrNull(r.appeal_at), appealDecidedAt: numOrNull(r.appeal_decided_at),
  };
}

export class Cases {
  /**
   * Case ids carry the rating's id (a pad's seq, or a phone rating's ticket number), and a ticket
   * number tells the staff member who was served. Staff get a keyed alias instead.
   */
  private readonly aliasKey: Uint8Array;

  constructor(private readonly deps: { db: Db; ledger: Ledger; hall: string; now: () => number; calendar: WorkingCalendar; policy: CasePolicy; aliasKey: Uint8Array }) {
    this.aliasKey = deps.aliasKey;
  }

  /** The id a staff member knows a case by: 'k' and 22 characters of HMAC(aliasKey, case id). */
  staffAlias(id: string): string {
    return `k${createHmac('sha256', this.aliasKey).update(id, 'utf8').digest('base64url').slice(0, 22)}`;
  }

  /** The case a staff member names, by its alias or its id; undefined when it is not one of theirs. */
  async staffCase(idOrAlias: string, staff: string): Promise<Case | undefined> {
    const direct = await this.deps.db.get<{ id: string }>('SELECT id FROM app_cases WHERE id = $1 AND staff = $2', [idOrAlias, staff]);
    if (direct) return this.get(direct.id);
    if (!/^k[A-Za-z0-9_-]{22}$/.test(idOrAlias)) return undefined;
    const ids = await this.deps.db.all<{ id: string }>('SELECT id FROM app_cases WHERE staff = $1', [staff]);
    const match = ids.find((r) => this.staffAlias(r.id) === idOrAlias);
    return match ? this.get(match.id) : undefined;
  }

  /** Who takes a step: the department's head for callback, rectification and feedback; a supervisor for review. */
  private async assigneeFor(tx: Db, step: CaseStatus, department: string | null): Promise<string | null> {
    if (step !== 'review' && department) {
      const head = await tx.get<{ username: string }>(`SELECT username FROM app_users WHERE role = 'head' AND department = $1 AND disabled = 0 ORDER BY username LIMIT 1`, [department]);
      if (head) return head.username;
    }
    const sup = await tx.get<{ username: string }>(`SELECT username FROM app_users WHERE role = 'supervisor' AND disabled = 0 ORDER BY username LIMIT 1`);
    return sup ? sup.username : null;
  }

  private async addStep(tx: Db, caseId: string, step: string, by: string | null, note: string | null, assignee: string | null, due: number | null, extra: Record<string, unknown> = {}): Promise<void> {
    const at = this.deps.now();
    const last = await tx.get<{ n: number }>('SELECT MAX(n) AS n FROM app_case_steps WHERE case_id = $1', [caseId]);
    const n = num(last?.n) + 1;
    await tx.run('INSERT INTO app_case_steps (case_id, n, at, step, by_user, note, assignee, due) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [caseId, n, at, step, by, note, assignee, due]);
    await tx.run('UPDATE app_cases SET steps = $2, updated_at = $3 WHERE id = $1', [caseId, n, at]);
    await this.deps.ledger.append(tx, [{ kind: 'case', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, case: caseId, n, step, by, note, assignee, due, ...extra } }]);
  }

  /** Opens a case for each bad rating not yet having one (idempotent), inside the caller's transaction. */
  async openFromRatings(tx: Db, ratings: RatingRecord[]): Promise<string[]> {
    const opened: string[] = [];
    const { calendar, policy } = this.deps;
    for (const r of ratings) {
      if (!(r.level <= BAD_RATING_MAX)) continue;
      // A rating bound to no service (rows from hubs before security finding 4) opens nothing until a supervisor binds it.
      if (r.bound === 'unbound') continue;
      if (await tx.get('SELECT id FROM app_cases WHERE rating = $1', [r.id])) continue;
      const id = `case-${r.id}`;
      const callbackDue = calendar.deadline(r.t, policy.callbackDays);
      const rectifyDue = calendar.deadline(r.t, policy.rectifyDays);
      const assignee = await this.assigneeFor(tx, 'callback', r.department);
      const at = this.deps.now();
      await tx.run(`INSERT INTO app_cases (id, rating, ticket, number, level, reason, channel, win, staff, item, department, rated_at, opened_at, status, assignee, due,
        callback_due, rectify_due, steps, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'callback', $14, $15, $15, $16, 0, $13)`,
      [id, r.id, r.ticket, r.number, r.level, r.reason, r.channel ?? 'pad', r.win, r.staff, r.item, r.department, r.t, at, assignee, callbackDue, rectifyDue]);
      await this.addStep(tx, id, 'opened', null, null, assignee, callbackDue, { rating: r.id, level: r.level, reason: r.reason });
      opened.push(id);
    }
    return opened;
  }

  /** Reads ledger 'rating' rows after the watermark and opens their cases; returns the number opened. */
  async sync(): Promise<number> {
    const { db, ledger } = this.deps;
    let opened = 0;
    for (;;) {
      const more = await db.tx(async (tx) => {
        const wm = await tx.get<{ value: number }>('SELECT value FROM app_state WHERE name = $1', [WATERMARK]);
        const after = num(wm?.value);
        // Up to the head as seen inside this transaction: later rows wait for the next sync.
        const head = (await ledger.head(tx)).row;
        if (head <= after) return false;
        const rows = await ledger.rowsAfter(tx, 'rating', after, head, SYNC_PAGE);
        opened += (await this.openFromRatings(tx, rows.map((r) => JSON.parse(r.body) as RatingRecord))).length;
        const last = rows.length === SYNC_PAGE ? num(rows[rows.length - 1].row) : head;
        await tx.run('INSERT INTO app_state (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value', [WATERMARK, last]);
        return rows.length === SYNC_PAGE;
      });
      if (!more) return opened;
    }
  }

  async get(id: string, db: Db = this.deps.db): Promise<Case> {
    const r = await db.get<CaseRow>('SELECT * FROM app_cases WHERE id = $1', [id]);
    if (!r) throw new AppError(404, `case ${id} does not exist`, 'id');
    const c = caseOut(r, this.deps.now());
    c.steps = (await db.all<CaseRow>('SELECT * FROM app_case_steps WHERE case_id = $1 ORDER BY n', [id])).map((s) => ({
      n: num(s.n), at: num(s.at), step: s.step as string, by: s.by_user as string | null, note: s.note as string | null, assignee: s.assignee as string | null, due: numOrNull(s.due),
    }));
    return c;
  }

  /** The cases of a service item's ratings in [from, to), oldest first (for a report's worst items). */
  async ofItem(item: string, from: number, to: number, limit: number): Promise<Pick<Case, 'id' | 'level' | 'reason' | 'win' | 'status' | 'outcome' | 'ratedAt'>[]> {
    const list = await this.deps.db.all<Record<string, string | number | null>>(`SELECT id, level, reason, win, status, outcome, rated_at FROM app_cases
      WHERE item = $1 AND rated_at >= $2 AND rated_at < $3 ORDER BY rated_at LIMIT ${Math.max(1, Math.floor(limit))}`, [item, from, to]);
    return list.map((c) => ({ id: c.id as string, level: Number(c.level), reason: c.reason as string | null, win: c.win as string | null, status: c.status as Case['status'], outcome: c.outcome as string | null, ratedAt: Number(c.rated_at) }));
  }

  async list(filter: { status?: string; overdue?: boolean; staff?: string; department?: string; from?: number; to?: number; limit?: number } = {}): Promise<Case[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const now = this.deps.now();
    if (filter.status === 'open') where.push(`status <> 'closed'`);
    else if (filter.status) { params.push(filter.status); where.push(`status = $${params.length}`); }
    if (filter.overdue) { params.push(now); where.push(`status <> 'closed' AND due < $${params.length}`); }
    if (filter.staff) { params.push(filter.staff); where.push(`staff = $${params.length}`); }
    if (filter.department) { params.push(filter.department); where.push(`department = $${params.length}`); }
    if (filter.from !== undefined) { params.push(filter.from); where.push(`rated_at >= $${params.length}`); }
    if (filter.to !== undefined) { params.push(filter.to); where.push(`rated_at < $${params.length}`); }
    const rows = await this.deps.db.all<CaseRow>(`SELECT * FROM app_cases ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY rated_at DESC, id LIMIT ${Math.min(filter.limit ?? 500, 5000)}`, params);
    return rows.map((r) => caseOut(r, now));
  }

  /** What a staff member sees of their own case: days, not times; their appeal's note, and no other. */
  forStaff(c: Case, user: User): StaffCase {
    const day = (t: number | null) => (t === null ? null : this.deps.calendar.localDate(t));
    const out: StaffCase = {
      id: this.staffAlias(c.id), level: c.level, reason: c.reason, channel: c.channel, win: c.win, staff: c.staff, item: c.item, department: c.department,
      ratedDay: day(c.ratedAt)!, status: c.status, outcome: c.outcome, overdue: c.overdue, dueDay: day(c.due),
      appeal: c.appeal, appealReason: c.appealReason, appealDay: day(c.appealAt), appealDecidedDay: day(c.appealDecidedAt),
    };
    if (c.steps) out.steps = c.steps.map((s) => ({ n: s.n, day: day(s.at)!, step: s.step, note: s.step === 'appeal' && s.by === user.username ? s.note : null }));
    return out;
  }

  /** May this user act on this case's current step? Supervisors always; a head for their department's callback/rectify/feedback. */
  private mayAct(user: User, c: Case): boolean {
    if (user.role === 'supervisor') return true;
    return user.role === 'head' && c.department !== null && user.department === c.department && c.status !== 'review';
  }

  /** Takes the case's current step (callback, rectify, feedback, review) with a note. */
  async advance(id: string, step: CaseStatus, user: User, input: { note: string; reached?: boolean; reopen?: boolean }): Promise<Case> {
    const { db, calendar, policy } = this.deps;
    return db.tx(async (tx) => {
      const c = await this.get(id, tx);
      if (c.status === 'closed') throw new AppError(409, `case ${id} is closed`, 'id');
      if (c.status !== step) throw new AppError(409, `case ${id} is at step ${c.status}, not ${step}`, 'step');
      if (!this.mayAct(user, c)) throw new AppError(403, `case ${id}: ${user.role} ${user.username} may not take step ${step} of a ${c.department ?? 'hall'} case`, null);
      if (!input.note.trim()) throw new AppError(400, 'note: describe what was done', 'note');
      const at = this.deps.now();
      if (step === 'callback' && input.reached === false) {
        // The citizen was not reached: the attempt is kept, and the case stays at callback for a retry under the same deadline.
        await this.addStep(tx, id, 'callback-failed', user.username, input.note, c.assignee, c.due, { reached: false });
        return this.get(id, tx);
      }
      let next: CaseStatus;
      let due: number | null;
      let set: string;
      if (step === 'callback') {
        next = 'rectify'; due = c.rectifyDue; set = 'callback_at = $2';
      } else if (step === 'rectify') {
        next = 'feedback'; due = calendar.deadline(at, policy.feedbackDays); set = 'rectified_at = $2';
      } else if (step === 'feedback') {
        next = 'review'; due = calendar.deadline(at, policy.reviewDays); set = 'feedback_at = $2';
      } else {
        // Review: close, or send back to rectification with a fresh deadline.
        if (input.reopen) { next = 'rectify'; due = calendar.deadline(at, policy.rectifyDays); set = 'rectified_at = NULL, feedback_at = NULL'; }
        else { next = 'closed'; due = null; set = `closed_at = $2, outcome = COALESCE(outcome, 'rectified')`; }
      }
      const assignee = next === 'closed' ? null : await this.assigneeFor(tx, next, c.department);
      await tx.run(`UPDATE app_cases SET ${set}, status = $3, assignee = $4, due = $5 WHERE id = $1`, [id, at, next, assignee, due]);
      await this.addStep(tx, id, step === 'review' && input.reopen ? 'reopened' : step, user.username, input.note, assignee, due, step === 'callback' ? { reached: input.reached ?? true } : {});
      return this.get(id, tx);
    });
  }

  async assign(id: string, user: User, assignee: string, note: string | null): Promise<Case> {
    return this.deps.db.tx(async (tx) => {
      const c = await this.get(id, tx);
      if (c.status === 'closed') throw new AppError(409, `case ${id} is closed`, 'id');
      if (!(await tx.get('SELECT username FROM app_users WHERE username = $1 AND disabled = 0', [assignee]))) throw new AppError(400, `assignee: user ${assignee} does not exist`, 'assignee');
      await tx.run('UPDATE app_cases SET assignee = $2 WHERE id = $1', [id, assignee]);
      await this.addStep(tx, id, 'assigned', user.username, note, assignee, c.due);
      return this.get(id, tx);
    });
  }

  /** The rated staff member asks for a review of the rating (申诉). */
  async appeal(id: string, user: User, reason: string): Promise<Case> {
    return this.deps.db.tx(async (tx) => {
      const c = await this.get(id, tx);
      if (user.role !== 'staff' || !user.staff || user.staff !== c.staff) throw new AppError(403, `case ${id}: only the rated staff member may appeal`, null);
      if (c.status === 'closed') throw new AppError(409, `case ${id} is closed`, 'id');
      if (c.appeal !== null) throw new AppError(409, `case ${id} already has an appeal (${c.appeal})`, 'id');
      if (!reason.trim()) throw new AppError(400, 'reason: say why the rating should be reviewed', 'reason');
      const at = this.deps.now();
      await tx.run(`UPDATE app_cases SET appeal = 'pending', appeal_reason = $2, appeal_at = $3 WHERE id = $1`, [id, reason, at]);
      await this.addStep(tx, id, 'appeal', user.username, reason, c.assignee, c.due);
      return this.get(id, tx);
    });
  }

  async decideAppeal(id: string, user: User, uphold: boolean, note: string): Promise<Case> {
    return this.deps.db.tx(async (tx) => {
      const c = await this.get(id, tx);
      if (user.role !== 'supervisor') throw new AppError(403, 'only a supervisor decides an appeal', null);
      if (c.appeal !== 'pending') throw new AppError(409, `case ${id} has no pending appeal`, 'id');
      if (!note.trim()) throw new AppError(400, 'note: give the grounds of the decision', 'note');
      const at = this.deps.now();
      if (uphold) {
        await tx.run(`UPDATE app_cases SET appeal = 'upheld', appeal_decided_at = $2, status = 'closed', outcome = 'appeal-upheld', closed_at = $2, assignee = NULL, due = NULL WHERE id = $1`, [id, at]);
      } else {
        await tx.run(`UPDATE app_cases SET appeal = 'rejected', appeal_decided_at = $2 WHERE id = $1`, [id, at]);
      }
      await this.addStep(tx, id, uphold ? 'appeal-upheld' : 'appeal-rejected', user.username, note, uphold ? null : c.assignee, uphold ? null : c.due);
      return this.get(id, tx);
    });
  }

  /** 回访率 / 整改率 and deadlines kept, over cases of ratings in [from, to); upheld appeals are left out of the rates. */
  async figures(from: number, to: number, department?: string): Promise<{ cases: number; appealsUpheld: number; calledBack: number; rectified: number; closed: number; open: number; overdue: number; callbackOnTime: number; rectifyOnTime: number; callbackRate: number | null; rectifyRate: number | null }> {
    const now = this.deps.now();
    const r = await this.deps.db.get<Record<string, number>>(`SELECT COUNT(*) AS cases,
      SUM(CASE WHEN outcome = 'appeal-upheld' THEN 1 ELSE 0 END) AS upheld,
      SUM(CASE WHEN callback_at IS NOT NULL AND COALESCE(outcome, '') <> 'appeal-upheld' THEN 1 ELSE 0 END) AS called,
      SUM(CASE WHEN callback_at IS NOT NULL AND callback_at <= callback_due AND COALESCE(outcome, '') <> 'appeal-upheld' THEN 1 ELSE 0 END) AS called_on_time,
      SUM(CASE WHEN (rectified_at IS NOT NULL OR outcome = 'rectified') AND COALESCE(outcome, '') <> 'appeal-upheld' THEN 1 ELSE 0 END) AS rectified,
      SUM(CASE WHEN rectified_at IS NOT NULL AND rectified_at <= rectify_due AND COALESCE(outcome, '') <> 'appeal-upheld' THEN 1 ELSE 0 END) AS rectified_on_time,
      SUM(CASE WHEN status = 'closed' THEN 1 ELSE 0 END) AS closed,
      SUM(CASE WHEN status <> 'closed' THEN 1 ELSE 0 END) AS open,
      SUM(CASE WHEN status <> 'closed' AND due < $3 THEN 1 ELSE 0 END) AS overdue
      FROM app_cases WHERE rated_at >= $1 AND rated_at < $2 ${department ? 'AND department = $4' : ''}`, department ? [from, to, now, department] : [from, to, now]);
    const cases = num(r?.cases);
    const counted = cases - num(r?.upheld);
    return {
      cases, appealsUpheld: num(r?.upheld), calledBack: num(r?.called), rectified: num(r?.rectified), closed: num(r?.closed), open: num(r?.open), overdue: num(r?.overdue),
      callbackOnTime: num(r?.called_on_time), rectifyOnTime: num(r?.rectified_on_time),
      callbackRate: counted ? num(r?.called) / counted : null, rectifyRate: counted ? num(r?.rectified) / counted : null,
    };
  }

  /** Open cases past their step's deadline, per step (for the metric and the alert list). */
  async overdueCounts(): Promise<Record<string, number>> {
    const rows = await this.deps.db.all<{ status: string; n: number }>(`SELECT status, COUNT(*) AS n FROM app_cases WHERE status <> 'closed' AND due < $1 GROUP BY status`, [this.deps.now()]);
    const out: Record<string, number> = { callback: 0, rectify: 0, feedback: 0, review: 0 };
    for (const r of rows) out[r.status] = num(r.n);
    return out;
  }
}
