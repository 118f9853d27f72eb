/**
 * The commitment register (承诺台帐): per department and year, clause-style commitments, each
 * with a metric, a target, measures, an owner and a deadline. A revision is a new version (the
 * old stays readable: dynamic management without overwriting); publication points the public
 * page at one version. Every change appends a ledger row (kind 'commitment').
 *
 * Metrics are measured by the hub, never typed in:
 *   compression 承诺时间压缩比: mean over finished cases of 1 − (working days taken ÷ the item's
 *                statutory limit), for items with a limit > 0; a case's days run from its first
 *                ticket's issue (or online submission) to its last finish.
 *   visits      平均跑动次数: tickets per case (tickets sharing a case number; a ticket without
 *                one is a case of its own).
 *   onSpot      即办事项占比: share of cases finished at the first visit.
 *   online      全程网办事项占比: imported fully-online cases ÷ all cases (hall and imported).
 *   satisfaction / badRate: from ratings, as in figures.ts.
 * Lower is better for visits and badRate; higher for the others.
 */

import { BAD_RATING_MAX } from '../../firmware/core/protocol.js';
import type { Db } from '../db/db.js';
import type { Ledger } from '../ledger/ledger.js';
import type { WorkingCalendar } from './calendar.js';
import { AppError, num, numOrNull, toCsv } from './http-util.js';
import { CsvError, readCsv } from '../csv.js';
import { monthsOf, parsePeriod, type Period } from '../ratings/figures.js';
import { departmentExists, finishedCases, itemLimits, itemOf } from '../queue/lookup.js';
import { ratingCountsPerDay } from '../ratings/ratings.js';

export type CommitmentMetric = 'compression' | 'visits' | 'onSpot' | 'online' | 'satisfaction' | 'badRate' | 'none';
export const COMMITMENT_METRICS: readonly CommitmentMetric[] = ['compression', 'visits', 'onSpot', 'online', 'satisfaction', 'badRate', 'none'];
const LOWER_IS_BETTER = new Set<CommitmentMetric>(['visits', 'badRate']);

export interface CommitmentInput {
  department: string; year: number; clause: string; title: string; metric: CommitmentMetric; item: string | null;
  target: number | null; measures: string; owner: string; deadline: string; note?: string | null;
}
export interface Commitment extends CommitmentInput {
  id: string; version: number; createdAt: number; createdBy: string | null; publishedVersion: number | null; publishedAt: number | null;
}
export interface Measured { value: number | null; cases: number; met: boolean | null; trend: { month: string; value: number | null; cases: number }[] }

/** CSV columns, in order, for export and import. */
export const CSV_COLUMNS = ['department', 'year', 'clause', 'title', 'metric', 'item', 'target', 'measures', 'owner', 'deadline', 'note'] as const;

const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** 2025-06-31 matches the pattern but is no date: round-trip it. */
function isRealDate(d: string): boolean {
  const t = Date.parse(`${d}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === d;
}

type Row = Record<string, string | number | null>;
function out(r: Row): Commitment {
  return {
    id: r.id as string, version: num(r.version), department: r.department as string, year: num(r.year), clause: r.clause as string, title: r.title as string,
    metric: r.metric as CommitmentMetric, item: r.item as string | null, target: numOrNull(r.target), measures: r.measures as string, owner: r.owner as string,
    deadline: r.deadline as string, note: r.note as string | null, createdAt: num(r.created_at), createdBy: r.created_by as string | null,
    publishedVersion: numOrNull(r.published_version), publishedAt: numOrNull(r.published_at),
  };
}

/** Checks one commitment; problems name the field (and the CSV column when importing). */
export function checkCommitment(raw: Record<string, unknown>): CommitmentInput {
  const str = (key: string, max = 2000, optional = false): string | null => {
    const v = raw[key];
    if ((v === undefined || v === null || v === '') && optional) return null;
    if (typeof v !== 'string' || v.trim() === '') throw new AppError(400, `${key}: is required`, key);
    if (v.length > max) throw new AppError(400, `${key}: must be at most ${max} characters`, key);
    return v.trim();
  };
  const yearRaw = raw.year;
  const year = typeof yearRaw === 'string' && /^\d{4}$/.test(yearRaw.trim()) ? Number(yearRaw) : yearRaw;
  if (!Number.isInteger(year) || (year as number) < 2000 || (year as number) > 2100) throw new AppError(400, 'year: must be a year such as 2025', 'year');
  const metric = str('metric', 20) as CommitmentMetric;
  if (COMMITMENT_METRICS.indexOf(metric) < 0) throw new AppError(400, `metric: must be one of ${COMMITMENT_METRICS.join(', ')}`, 'metric');
  let target: number | null = null;
  const t = raw.target;
  if (t !== undefined && t !== null && t !== '') {
    target = typeof t === 'number' ? t : typeof t === 'string' && /^-?\d+(\.\d+)?$/.test(t.trim()) ? Number(t) : NaN;
    if (!Number.isFinite(target)) throw new AppError(400, `target: "${String(t)}" is not a number`, 'target');
  }
  if (metric !== 'none' && target === null) throw new AppError(400, `target: a ${metric} commitment needs a target`, 'target');
  const deadline = str('deadline', 10)!;
  if (!DATE.test(deadline) || !isRealDate(deadline)) throw new AppError(400, `deadline: "${deadline}" is not a date YYYY-MM-DD`, 'deadline');
  return {
    department: str('department', 32)!, year: year as number, clause: str('clause', 20)!, title: str('title', 200)!, metric, item: str('item', 32, true),
    target, measures: str('measures')!, owner: str('owner', 100)!, deadline, note: str('note', 2000, true),
  };
}

/** Parses CSV (RFC 4180: quotes, doubled quotes, CRLF or LF, a BOM) into rows with their line numbers: hub/csv.ts, the CLI's reader too. */
export function parseCsv(text: string): { line: number; cells: string[] }[] {
  try {
    return readCsv(text);
  } catch (error) {
    if (error instanceof CsvError) throw new AppError(400, error.message, `line ${error.line}`);
    throw error;
  }
}

export class Commitments {
  constructor(private readonly deps: { db: Db; ledger: Ledger; hall: string; now: () => number; calendar: WorkingCalendar; utcOffsetMinutes: number }) {}

  private async checkRefs(tx: Db, c: CommitmentInput, where = ''): Promise<void> {
    if (!(await departmentExists(tx, c.department))) throw new AppError(400, `${where}department: ${c.department} is not set up in this hall`, 'department');
    if (c.item) {
      const item = await itemOf(tx, c.item);
      if (!item) throw new AppError(400, `${where}item: service item ${c.item} is not set up in this hall`, 'item');
      if (item.department !== c.department) throw new AppError(400, `${where}item: ${c.item} belongs to ${item.department}, not ${c.department}`, 'item');
    }
  }

  private async insertVersion(tx: Db, id: string, version: number, c: CommitmentInput, by: string | null, action: string): Promise<void> {
    const at = this.deps.now();
    await tx.run(`INSERT INTO app_commitments (id, version, department, year, clause, title, metric, item, target, measures, owner, deadline, note, created_at, created_by)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
    [id, version, c.department, c.year, c.clause, c.title, c.metric, c.item, c.target, c.measures, c.owner, c.deadline, c.note ?? null, at, by]);
    if (version === 1) await tx.run('INSERT INTO app_commitment_heads (id, version) VALUES ($1, 1)', [id]);
    else await tx.run('UPDATE app_commitment_heads SET version = $2 WHERE id = $1', [id, version]);
    await this.deps.ledger.append(tx, [{ kind: 'commitment', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, action, id, version, by, ...c } }]);
  }

  private async newId(tx: Db, c: CommitmentInput): Promise<string> {
    const base = `${c.year}-${c.department}-${c.clause}`.replace(/[^A-Za-z0-9_.-]/g, '_');
    let id = base;
    for (let n = 2; await tx.get('SELECT id FROM app_commitment_heads WHERE id = $1', [id]); n++) id = `${base}-${n}`;
    return id;
  }

  async create(input: CommitmentInput, by: string | null): Promise<Commitment> {
    return this.deps.db.tx(async (tx) => {
      await this.checkRefs(tx, input);
      const id = await this.newId(tx, input);
      await this.insertVersion(tx, id, 1, input, by, 'create');
      return (await this.get(id, tx))!;
    });
  }

  /** A revision: a new version; the previous ones stay in the history. */
  async revise(id: string, input: CommitmentInput, by: string | null): Promise<Commitment> {
    return this.deps.db.tx(async (tx) => {
      const head = await this.get(id, tx);
      if (!head) throw new AppError(404, `commitment ${id} does not exist`, 'id');
      if (input.department !== head.department) throw new AppError(400, `department: a commitment stays with its department (${head.department})`, 'department');
      await this.checkRefs(tx, input);
      await this.insertVersion(tx, id, head.version + 1, input, by, 'revise');
      return (await this.get(id, tx))!;
    });
  }

  async publish(id: string, by: string): Promise<Commitment> {
    return this.deps.db.tx(async (tx) => {
      const head = await this.get(id, tx);
      if (!head) throw new AppError(404, `commitment ${id} does not exist`, 'id');
      const at = this.deps.now();
      await tx.run('UPDATE app_commitment_heads SET published_version = version, published_at = $2 WHERE id = $1', [id, at]);
      await this.deps.ledger.append(tx, [{ kind: 'commitment', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, action: 'publish', id, version: head.version, by } }]);
      return (await this.get(id, tx))!;
    });
  }

  async get(id: string, db: Db = this.deps.db): Promise<Commitment | undefined> {
    const r = await db.get<Row>(`SELECT c.*, h.published_version, h.published_at FROM app_commitment_heads h JOIN app_commitments c ON c.id = h.id AND c.version = h.version WHERE h.id = $1`, [id]);
    return r ? out(r) : undefined;
  }

  async history(id: string): Promise<Commitment[]> {
    const rows = await this.deps.db.all<Row>(`SELECT c.*, h.published_version, h.published_at FROM app_commitments c JOIN app_commitment_heads h ON h.id = c.id WHERE c.id = $1 ORDER BY c.version`, [id]);
    if (rows.length === 0) throw new AppError(404, `commitment ${id} does not exist`, 'id');
    return rows.map(out);
  }

  /** Current versions (or, with published, the published versions) of a year, optionally one department. */
  async list(filter: { year?: number; department?: string; published?: boolean } = {}): Promise<Commitment[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.year !== undefined) { params.push(filter.year); where.push(`c.year = $${params.length}`); }
    if (filter.department) { params.push(filter.department); where.push(`c.department = $${params.length}`); }
    const join = filter.published ? 'c.version = h.published_version' : 'c.version = h.version';
    const rows = await this.deps.db.all<Row>(`SELECT c.*, h.published_version, h.published_at FROM app_commitment_heads h JOIN app_commitments c ON c.id = h.id AND ${join}
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY c.year, c.department, c.clause, c.id`, params);
    return rows.map(out);
  }

  toCsv(list: Commitment[]): string {
    return toCsv([...CSV_COLUMNS, 'id', 'version'], list.map((c) => [...CSV_COLUMNS.map((k) => c[k] ?? ''), c.id, c.version]));
  }

  /** Imports CSV with a header row naming CSV_COLUMNS; all rows or none. A bad row is named by line and column. */
  async importCsv(text: string, by: string | null): Promise<Commitment[]> {
    const rows = parseCsv(text);
    if (rows.length === 0) throw new AppError(400, 'line 1: the file is empty; expected a header row', 'line 1');
    const header = rows[0].cells.map((h) => h.trim());
    for (const col of CSV_COLUMNS) {
      if (col !== 'note' && col !== 'item' && header.indexOf(col) < 0) throw new AppError(400, `line 1: column "${col}" is missing from the header`, 'line 1');
    }
    header.forEach((h, i) => {
      if ((CSV_COLUMNS as readonly string[]).indexOf(h) < 0 && h !== 'id' && h !== 'version') throw new AppError(400, `line 1, column ${i + 1}: unknown column "${h}"`, 'line 1');
    });
    const parsed: { line: number; c: CommitmentInput }[] = [];
    for (const r of rows.slice(1)) {
      if (r.cells.length !== header.length) throw new AppError(400, `line ${r.line}: has ${r.cells.length} cells, the header has ${header.length}`, `line ${r.line}`);
      const raw: Record<string, unknown> = {};
      header.forEach((h, i) => { if (h !== 'id' && h !== 'version') raw[h] = r.cells[i]; });
      try {
        parsed.push({ line: r.line, c: checkCommitment(raw) });
      } catch (error) {
        if (!(error instanceof AppError)) throw error;
        const col = header.indexOf(error.field ?? '');
        throw new AppError(400, `line ${r.line}, column ${col + 1} (${error.field}): ${error.message.replace(/^[a-z]+: /, '')}`, `line ${r.line}`);
      }
    }
    return this.deps.db.tx(async (tx) => {
      const out: Commitment[] = [];
      for (const { line, c } of parsed) {
        try {
          await this.checkRefs(tx, c);
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          const col = header.indexOf(error.field ?? '');
          throw new AppError(400, `line ${line}, column ${col + 1} (${error.field}): ${error.message.replace(/^[a-z]+: /, '')}`, `line ${line}`);
        }
        const id = await this.newId(tx, c);
        await this.insertVersion(tx, id, 1, c, by, 'import');
        out.push((await this.get(id, tx))!);
      }
      return out;
    });
  }

  /** Imports online cases (全程网办 and others handled online) from JSON rows; upserts by id. */
  async importOnline(rows: unknown[], by: string | null): Promise<number> {
    const checked = rows.map((r, i) => {
      const o = r as Record<string, unknown>;
      const where = `cases[${i}]`;
      if (!o || typeof o !== 'object') throw new AppError(400, `${where}: expected an object`, where);
      if (typeof o.id !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(o.id)) throw new AppError(400, `${where}.id: expected an id`, `${where}.id`);
      if (typeof o.item !== 'string') throw new AppError(400, `${where}.item: expected a service item code`, `${where}.item`);
      const time = (k: string) => {
        const v = o[k];
        const t = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
        if (!Number.isFinite(t)) throw new AppError(400, `${where}.${k}: expected a time (ms or ISO 8601)`, `${where}.${k}`);
        return t;
      };
      const submittedAt = time('submittedAt');
      const finishedAt = time('finishedAt');
      if (finishedAt < submittedAt) throw new AppError(400, `${where}.finishedAt: is before submittedAt`, `${where}.finishedAt`);
      if (typeof o.fullyOnline !== 'boolean') throw new AppError(400, `${where}.fullyOnline: expected true or false`, `${where}.fullyOnline`);
      return { id: o.id, item: o.item, submittedAt, finishedAt, fullyOnline: o.fullyOnline, where };
    });
    return this.deps.db.tx(async (tx) => {
      const at = this.deps.now();
      for (const c of checked) {
        const item = await itemOf(tx, c.item);
        if (!item) throw new AppError(400, `${c.where}.item: service item ${c.item} is not set up in this hall`, `${c.where}.item`);
        await tx.run(`INSERT INTO app_online_cases (id, item, department, submitted_at, finished_at, fully_online, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
          ON CONFLICT (id) DO UPDATE SET item = excluded.item, department = excluded.department, submitted_at = excluded.submitted_at, finished_at = excluded.finished_at,
          fully_online = excluded.fully_online, imported_at = excluded.imported_at`, [c.id, c.item, item.department, c.submittedAt, c.finishedAt, c.fullyOnline ? 1 : 0, at]);
      }
      await this.deps.ledger.append(tx, [{ kind: 'online-import', dev: null, boot: null, seq: null, at, body: { hall: this.deps.hall, by, count: checked.length, ids: checked.map((c) => c.id) } }]);
      return checked.length;
    });
  }

  /** Cases finished in [from, to) for a department (and item), hall and online, with their visits, days and limits. */
  private async cases(department: string, item: string | null, from: number, to: number): Promise<{ finished: number; visits: number; days: number; limit: number; online: boolean; fullyOnline: boolean }[]> {
    const { db, calendar } = this.deps;
    const params: (string | number)[] = [department, from, to];
    const hall = await finishedCases(db, department, item, from, to);
    const limits = await itemLimits(db);
    // An imported case of an item no longer set up counts nowhere, as the join it replaces did.
    const online = (await db.all<{ item: string; submitted_at: number; finished_at: number; fully_online: number }>(`
      SELECT o.item, o.submitted_at, o.finished_at, o.fully_online FROM app_online_cases o
      WHERE o.department = $1 AND o.finished_at >= $2 AND o.finished_at < $3 ${item ? 'AND o.item = $4' : ''}`, item ? [...params, item] : params))
      .filter((o) => limits.has(o.item)).map((o) => ({ ...o, limit_days: limits.get(o.item)! }));
    return [
      ...hall.map((h) => ({ finished: num(h.last), visits: num(h.visits), days: calendar.workingDaysBetween(num(h.first), num(h.last)), limit: num(h.limit_days), online: false, fullyOnline: false })),
      ...online.map((o) => ({ finished: num(o.finished_at), visits: num(o.fully_online) ? 0 : 1, days: calendar.workingDaysBetween(num(o.submitted_at), num(o.finished_at)), limit: num(o.limit_days), online: true, fullyOnline: num(o.fully_online) === 1 })),
    ];
  }

  private static value(metric: CommitmentMetric, cases: { visits: number; days: number; limit: number; online: boolean; fullyOnline: boolean }[], ratings: { n: number; good: number; bad: number }): { value: number | null; n: number } {
    switch (metric) {
      case 'compression': {
        const limited = cases.filter((c) => c.limit > 0);
        return { value: limited.length ? limited.reduce((s, c) => s + (1 - c.days / c.limit), 0) / limited.length : null, n: limited.length };
      }
      case 'visits': {
        const hall = cases.filter((c) => !c.online);
        return { value: hall.length ? hall.reduce((s, c) => s + c.visits, 0) / hall.length : null, n: hall.length };
      }
      case 'onSpot': {
        const hall = cases.filter((c) => !c.online);
        return { value: hall.length ? hall.filter((c) => c.visits === 1).length / hall.length : null, n: hall.length };
      }
      case 'online':
        return { value: cases.length ? cases.filter((c) => c.fullyOnline).length / cases.length : null, n: cases.length };
      case 'satisfaction':
        return { value: ratings.n ? ratings.good / ratings.n : null, n: ratings.n };
      case 'badRate':
        return { value: ratings.n ? ratings.bad / ratings.n : null, n: ratings.n };
      default:
        return { value: null, n: 0 };
    }
  }

  /** The measured value of a commitment over its year (up to now), and its monthly trend. */
  async measure(c: CommitmentInput): Promise<Measured> {
    const year: Period = parsePeriod(String(c.year), this.deps.utcOffsetMinutes);
    const to = Math.min(year.to, this.deps.now() + 1);
    if (c.metric === 'none' || to <= year.from) return { value: null, cases: 0, met: null, trend: [] };
    const cases = c.metric === 'satisfaction' || c.metric === 'badRate' ? [] : await this.cases(c.department, c.item, year.from, to);
    const off = this.deps.utcOffsetMinutes * 60_000;
    const DAY = 86_400_000;
    // Ratings are counted per local day in SQL (a year may hold millions), then per month here.
    const ratingDays = c.metric === 'satisfaction' || c.metric === 'badRate'
      ? (await ratingCountsPerDay(this.deps.db, year.from, to, off, { department: c.department, item: c.item })).map((r) => {
        const level = (l: number) => num(r[`l${l}`]);
        return { d: num(r.d), n: num(r.n), good: level(4) + level(5), bad: [1, 2, 3, 4, 5].filter((l) => l <= BAD_RATING_MAX).reduce((s, l) => s + level(l), 0) };
      })
      : [];
    const monthOf = (t: number) => new Date(t + off).toISOString().slice(0, 7);
    const countRatings = (month: string | null) => {
      const r = { n: 0, good: 0, bad: 0 };
      for (const d of ratingDays) {
        if (month !== null && new Date(num(d.d) * DAY).toISOString().slice(0, 7) !== month) continue;
        r.n += num(d.n); r.good += num(d.good); r.bad += num(d.bad);
      }
      return r;
    };
    const whole = Commitments.value(c.metric, cases, countRatings(null));
    const trend = monthsOf({ ...year, to }, this.deps.utcOffsetMinutes).map((month) => {
      const v = Commitments.value(c.metric, cases.filter((x) => monthOf(x.finished) === month), countRatings(month));
      return { month, value: v.value, cases: v.n };
    });
    const met = whole.value === null || c.target === null ? null : LOWER_IS_BETTER.has(c.metric) ? whole.value <= c.target : whole.value >= c.target;
    return { value: whole.value, cases: whole.n, met, trend };
  }
}
