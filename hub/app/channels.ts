/**
 * Rating channels besides the pad, all into the one ledger:
 *
 * - Phone (扫码评价): the window display or the printed ticket shows a QR code for
 *   /r/<token>, token = <ticket id>.<HMAC-SHA256(tokenKey, "rate:" + ticket id), 128 bits, base64url>.
 *   The token is one-time because the ticket is: the ratings feature (hub/ratings/) records a
 *   phone rating (channel 'phone', dev '$phone', which no device id can be) like the pad's, one
 *   per ticket whichever channel comes first; a reused token finds its ticket rated, a forged
 *   one fails the HMAC. A bad rating's case opens in the same transaction. The link is given
 *   only where the citizen is (printed, or on the window's done screen), never to staff.
 * - Suggestion box (意见箱): anonymous text, answered by a supervisor.
 * - Exposure board (曝光台): verified complaints a supervisor publishes (and may withdraw).
 * - Supervisory panel (监督评议团): members' scores of departments on fixed dimensions.
 */

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/db.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Cases } from './cases.js';
import { departmentExists, ticketForRating, windowExists } from '../queue/lookup.js';
import { checkLevel, type Ratings, type Rater } from '../ratings/ratings.js';
import { AppError, num, numOrNull } from './http-util.js';

const PHONE_DEV = '$phone';
const TICKET_ID = /^[0-9]{8}-[A-Z]{1,2}[0-9]{1,9}$/;

export interface ChannelOptions {
  /** Key of the rating tokens (32 bytes; derive it from the hub key). */
  tokenKey: Uint8Array;
  /** Days after its service a ticket may still be rated by phone. */
  phoneRatingDays: number;
}

export const PANEL_DIMENSIONS = {
  attitude: '服务态度',
  efficiency: '办事效率',
  policy: '政策落实',
  integrity: '廉洁自律',
  environment: '环境秩序',
} as const;
export type PanelDimension = keyof typeof PANEL_DIMENSIONS;

export const SUGGESTION_CATEGORIES = ['suggestion', 'complaint', 'praise'] as const;
const CATEGORY_ZH: Record<string, string> = { 建议: 'suggestion', 投诉: 'complaint', 表扬: 'praise' };

export class Channels {
  constructor(private readonly deps: { db: Db; ledger: Ledger; hall: string; now: () => number; cases: Cases; ratings: Ratings; options: ChannelOptions }) {}

  private mac(ticketId: string): Buffer {
    return createHmac('sha256', this.deps.options.tokenKey).update(`rate:${ticketId}`, 'utf8').digest().subarray(0, 16);
  }

  /** The phone-rating token of a ticket (for its QR code). */
  tokenFor(ticketId: string): string {
    return `${ticketId}.${this.mac(ticketId).toString('base64url')}`;
  }

  /** The ticket a token names, if the token is genuine; else why not. */
  private ticketOfToken(token: string): string {
    const dot = token.lastIndexOf('.');
    const id = dot > 0 ? token.slice(0, dot) : '';
    let given: Buffer;
    try {
      given = Buffer.from(token.slice(dot + 1), 'base64url');
    } catch {
      given = Buffer.alloc(0);
    }
    if (!TICKET_ID.test(id) || given.length !== 16 || !timingSafeEqual(given, this.mac(id))) throw new AppError(403, 'token: 评价链接无效，请扫描票据或窗口上的二维码（this rating link is not genuine）', 'token');
    return id;
  }

  /** What the phone page shows before rating: the service, and whether it may still be rated. */
  async lookup(token: string, db: Db = this.deps.db): Promise<{ ticket: string; number: string; item: string; win: string | null; finishedAt: number | null; rated: boolean; open: boolean; why: string | null }> {
    const id = this.ticketOfToken(token);
    const t = await ticketForRating(db, id);
    if (!t) throw new AppError(404, `token: 本大厅没有这张票（ticket ${id} does not exist in this hall）`, 'token');
    const rated = await this.deps.ratings.isRated(id, db);
    const finishedAt = numOrNull(t.finished_at);
    let why: string | null = null;
    if (rated) why = `${t.number} 号已评价过，每次服务只能评价一次（ticket ${t.number} is already rated）`;
    else if (t.status !== 'done' || finishedAt === null) why = `${t.number} 号尚未办理完毕，办完后再评价（ticket ${t.number} has not been served yet）`;
    else if (this.deps.now() > finishedAt + this.deps.options.phoneRatingDays * 86_400_000) why = `${t.number} 号办理已超过 ${this.deps.options.phoneRatingDays} 天，不能再评价（ticket ${t.number} was served more than ${this.deps.options.phoneRatingDays} days ago）`;
    return { ticket: id, number: t.number, item: t.item_name ?? t.item, win: t.win, finishedAt, rated, open: why === null, why };
  }

  /** Records a phone rating of the ticket a token names. `rater`: the signed-in user on this browser, if any (staff are refused). */
  async ratePhone(token: string, level: number, reason: string | null, rater: Rater | undefined): Promise<{ rating: string; caseId: string | null }> {
    checkLevel(level, reason);
    // Staff are refused before the token is even read: a refusal tells nothing of the service.
    if (rater && rater.role === 'staff') this.deps.ratings.refuseStaff({ id: '(unread)', staff: null }, 'phone', rater);
    const id = this.ticketOfToken(token);
    const { db, now } = this.deps;
    return db.tx(async (tx) => {
      const info = await this.lookup(token, tx);
      const ticket = (await ticketForRating(tx, id))!;
      if (!info.open) throw new AppError(409, `token: ${info.why}`, 'token');
      const at = now();
      await tx.run(`INSERT INTO app_state (name, value) VALUES ('phone.seq', 0) ON CONFLICT (name) DO NOTHING`);
      const seqRow = await tx.get<{ value: number }>(`UPDATE app_state SET value = value + 1 WHERE name = 'phone.seq' RETURNING value`);
      const seq = num(seqRow!.value);
      const rating = await this.deps.ratings.record(tx, ticket, {
        id: `phone:${id}`, ticketId: id, level, reason, channel: 'phone', bound: 'request', req: null, dev: PHONE_DEV, boot: 0, seq, t: at,
      }, rater);
      const opened = await this.deps.cases.openFromRatings(tx, [rating]);
      return { rating: rating.id, caseId: opened[0] ?? null };
    });
  }

  // ------------------------------------------------------------ suggestion box

  async suggest(input: { category: string; text: string; department: string | null; win: string | null }): Promise<{ id: string }> {
    // The citizen's own words are taken too: 建议 / 投诉 / 表扬.
    input = { ...input, category: CATEGORY_ZH[input.category] ?? input.category };
    if ((SUGGESTION_CATEGORIES as readonly string[]).indexOf(input.category) < 0) throw new AppError(400, `category: 请选择 建议、投诉 或 表扬 (must be one of ${SUGGESTION_CATEGORIES.join(', ')}, or 建议/投诉/表扬)`, 'category');
    if (input.text.trim().length < 2 || input.text.length > 2000) throw new AppError(400, 'text: 请填写 2 至 2000 字 (write 2 to 2000 characters)', 'text');
    return this.deps.db.tx(async (tx) => {
      if (input.department && !(await departmentExists(tx, input.department))) throw new AppError(400, `department: ${input.department} is not set up in this hall`, 'department');
      if (input.win && !(await windowExists(tx, input.win))) throw new AppError(400, `win: window ${input.win} is not set up in this hall`, 'win');
      const at = this.deps.now();
      const id = `s${at.toString(36)}${randomBytes(4).toString('hex')}`;
      await tx.run(`INSERT INTO app_suggestions (id, at, category, department, win, text, status) VALUES ($1, $2, $3, $4, $5, $6, 'new')`, [id, at, input.category, input.department, input.win, input.text.trim()]);
      await this.deps.ledger.append(tx, [{ kind: 'suggestion', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, id, category: input.category, department: input.department, win: input.win, text: input.text.trim() } }]);
      return { id };
    });
  }

  async suggestions(filter: { status?: string } = {}): Promise<Record<string, unknown>[]> {
    const rows = await this.deps.db.all<Record<string, string | number | null>>(`SELECT * FROM app_suggestions ${filter.status ? 'WHERE status = $1' : ''} ORDER BY at DESC LIMIT 1000`, filter.status ? [filter.status] : []);
    return rows.map((r) => ({ id: r.id, at: num(r.at), category: r.category, department: r.department, win: r.win, text: r.text, status: r.status, reply: r.reply, repliedBy: r.replied_by, repliedAt: numOrNull(r.replied_at) }));
  }

  async reply(id: string, by: string, reply: string, status: 'answered' | 'verified' | 'rejected'): Promise<void> {
    if (!reply.trim()) throw new AppError(400, 'reply: is required', 'reply');
    await this.deps.db.tx(async (tx) => {
      if (!(await tx.get('SELECT id FROM app_suggestions WHERE id = $1', [id]))) throw new AppError(404, `suggestion ${id} does not exist`, 'id');
      const at = this.deps.now();
      await tx.run('UPDATE app_suggestions SET status = $2, reply = $3, replied_by = $4, replied_at = $5 WHERE id = $1', [id, status, reply, by, at]);
      await this.deps.ledger.append(tx, [{ kind: 'suggestion', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, id, action: 'reply', status, reply, by } }]);
    });
  }

  // ------------------------------------------------------------ exposure board

  async expose(input: { title: string; body: string; department: string | null; win: string | null; source: string | null; rectification: string | null }, by: string): Promise<{ id: string }> {
    if (!input.title.trim()) throw new AppError(400, 'title: is required', 'title');
    if (!input.body.trim()) throw new AppError(400, 'body: is required', 'body');
    return this.deps.db.tx(async (tx) => {
      if (input.department && !(await departmentExists(tx, input.department))) throw new AppError(400, `department: ${input.department} is not set up in this hall`, 'department');
      if (input.source) {
        const fromSuggestion = await tx.get<{ status: string }>('SELECT status FROM app_suggestions WHERE id = $1', [input.source]);
        const fromCase = await tx.get('SELECT id FROM app_cases WHERE id = $1', [input.source]);
        if (!fromSuggestion && !fromCase) throw new AppError(400, `source: ${input.source} is neither a suggestion nor a case`, 'source');
        // Only verified complaints are published.
        if (fromSuggestion && fromSuggestion.status !== 'verified') throw new AppError(409, `source: suggestion ${input.source} is not verified (status ${fromSuggestion.status})`, 'source');
      }
      const at = this.deps.now();
      const id = `x${at.toString(36)}${randomBytes(4).toString('hex')}`;
      await tx.run(`INSERT INTO app_exposures (id, at, title, body, department, win, source, rectification, published_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [id, at, input.title.trim(), input.body.trim(), input.department, input.win, input.source, input.rectification, by]);
      await this.deps.ledger.append(tx, [{ kind: 'exposure', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, id, action: 'publish', by, ...input } }]);
      return { id };
    });
  }

  async withdrawExposure(id: string, by: string, note: string): Promise<void> {
    await this.deps.db.tx(async (tx) => {
      if (!(await tx.get('SELECT id FROM app_exposures WHERE id = $1 AND withdrawn_at IS NULL', [id]))) throw new AppError(404, `exposure ${id} is not on the board`, 'id');
      const at = this.deps.now();
      await tx.run('UPDATE app_exposures SET withdrawn_at = $2 WHERE id = $1', [id, at]);
      await this.deps.ledger.append(tx, [{ kind: 'exposure', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, id, action: 'withdraw', by, note } }]);
    });
  }

  async exposures(): Promise<Record<string, unknown>[]> {
    const rows = await this.deps.db.all<Record<string, string | number | null>>('SELECT * FROM app_exposures WHERE withdrawn_at IS NULL ORDER BY at DESC LIMIT 200');
    return rows.map((r) => ({ id: r.id, at: num(r.at), title: r.title, body: r.body, department: r.department, win: r.win, rectification: r.rectification }));
  }

  // ------------------------------------------------------------ supervisory panel

  /** Records one member's scores (0–100 per dimension) of a department for a period; a member scores a department once per period. */
  async score(input: { member: string; department: string; period: string; scores: Record<string, unknown> }, by: string): Promise<void> {
    if (!/^[^\s].{0,63}$/.test(input.member)) throw new AppError(400, 'member: name the panel member (1–64 characters)', 'member');
    if (!/^\d{4}(-Q[1-4]|-\d{2})?$/.test(input.period)) throw new AppError(400, 'period: expected YYYY, YYYY-Qn or YYYY-MM', 'period');
    const entries = Object.entries(input.scores);
    if (entries.length === 0) throw new AppError(400, 'scores: score at least one dimension', 'scores');
    for (const [dim, v] of entries) {
      if (!(dim in PANEL_DIMENSIONS)) throw new AppError(400, `scores.${dim}: unknown dimension; expected ${Object.keys(PANEL_DIMENSIONS).join(', ')}`, `scores.${dim}`);
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 100) throw new AppError(400, `scores.${dim}: must be a number 0–100`, `scores.${dim}`);
    }
    await this.deps.db.tx(async (tx) => {
      if (!(await departmentExists(tx, input.department))) throw new AppError(400, `department: ${input.department} is not set up in this hall`, 'department');
      const already = await tx.get('SELECT member FROM app_panel_scores WHERE member = $1 AND department = $2 AND period = $3', [input.member, input.department, input.period]);
      if (already) throw new AppError(409, `member: ${input.member} has already scored ${input.department} for ${input.period}`, 'member');
      const at = this.deps.now();
      for (const [dim, v] of entries) {
        await tx.run('INSERT INTO app_panel_scores (member, department, period, dimension, score, at, by_user) VALUES ($1, $2, $3, $4, $5, $6, $7)', [input.member, input.department, input.period, dim, v as number, at, by]);
      }
      await this.deps.ledger.append(tx, [{ kind: 'panel', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, by, ...input } }]);
    });
  }

  /** Per department: mean score per dimension, members who scored, and the overall mean. */
  async panelProfile(period: string): Promise<{ department: string; members: number; dimensions: Record<string, number | null>; overall: number | null }[]> {
    const rows = await this.deps.db.all<{ department: string; dimension: string; avg: number; n: number }>(
      'SELECT department, dimension, AVG(score) AS avg, COUNT(*) AS n FROM app_panel_scores WHERE period = $1 GROUP BY department, dimension ORDER BY department', [period]);
    const members = await this.deps.db.all<{ department: string; n: number }>('SELECT department, COUNT(DISTINCT member) AS n FROM app_panel_scores WHERE period = $1 GROUP BY department', [period]);
    const out = new Map<string, { department: string; members: number; dimensions: Record<string, number | null>; overall: number | null }>();
    for (const m of members) out.set(m.department, { department: m.department, members: num(m.n), dimensions: Object.fromEntries(Object.keys(PANEL_DIMENSIONS).map((d) => [d, null])), overall: null });
    for (const r of rows) out.get(r.department)!.dimensions[r.dimension] = Number(num(r.avg).toFixed(2));
    for (const p of out.values()) {
      const vals = Object.values(p.dimensions).filter((v): v is number => v !== null);
      p.overall = vals.length ? Number((vals.reduce((a, b) => a + b, 0) / vals.length).toFixed(2)) : null;
    }
    return [...out.values()].sort((a, b) => (b.overall ?? 0) - (a.overall ?? 0));
  }
}
