/**
 * Live satisfaction alerts (a Feature). After each committed rating, its window and its item are
 * measured: 满意率 (levels 4–5) over their last notices.alertLastN ratings below
 * notices.alertThreshold ('low-satisfaction'), or notices.alertBadCount 差评 (levels 1–2) within
 * notices.alertBadMinutes ('bad-cluster'). An alert is a row (notice_alerts), is pushed at once
 * to every supervisor's dashboard on the server-sent event stream, and goes through the notifier
 * to notices.alertTo. The same alert (kind, window or item) is not raised again within
 * notices.alertCooldownMinutes; the cool-down is read from the rows, so a restart keeps it.
 *
 * Routes [supervisor]:
 *   GET /api/alerts?limit=   the latest alerts
 *   GET /api/alerts/stream   text/event-stream: `event: alert` with the alert as JSON, a comment every 15 s
 */

import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import { Counter, Registry } from 'prom-client';
import type { Feature, FeatureDeps } from '../feature.js';
import type { NoticeSettings } from '../settings.js';
import { num } from '../db/db.js';
import { querySchema, useJsonSchemas } from '../http/validation.js';
import { httpErrorHandler } from '../http/errors.js';
import { badSince, itemName, lastRatings, ratingRow, windowName } from './reads.js';
import type { Notices } from './notices.js';

const MINUTE = 60_000; // milliseconds
const KEEPALIVE = 15_000; // milliseconds between SSE comments, so proxies keep the stream open
export const ALERT_KINDS = ['low-satisfaction', 'bad-cluster'] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];
type Scope = 'win' | 'item';

export interface Alert {
  id: string; at: number; kind: AlertKind; scope: Scope; target: string; text: string;
  figure: { ratings?: number; good?: number; satisfaction?: number; threshold?: number; bad?: number; minutes?: number };
}

export interface AlertsDeps extends FeatureDeps {
  settings: NoticeSettings;
  notices: Notices;
  metrics?: Registry;
}

export class SatisfactionAlerts implements Feature {
  readonly name = 'alerts';
  private readonly streams = new Set<ServerResponse>();
  private keepalive: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private seq = 0;
  private readonly raised: Counter<'kind' | 'scope'>;

  constructor(private readonly deps: AlertsDeps) {
    this.raised = new Counter({ name: 'sannuo_alerts_total', help: 'Live satisfaction alerts raised, by kind and scope (window or item)', labelNames: ['kind', 'scope'], registers: [deps.metrics ?? new Registry()] });
  }

  start(): void {
    // One rating checked after another: two ratings at once must not both pass the cool-down check.
    this.deps.bus.on('ratingCommitted', this.name, ({ rating }) => {
      this.chain = this.chain.then(async () => { await this.check(rating); }).catch((error: unknown) => this.deps.log.error({ err: error, rating }, 'alerts: check failed'));
      return this.chain;
    });
    this.keepalive = setInterval(() => { for (const s of this.streams) s.write(': keepalive\n\n'); }, KEEPALIVE);
  }

  async stop(): Promise<void> {
    this.deps.bus.off(this.name);
    clearInterval(this.keepalive);
    await this.chain;
    for (const s of this.streams) s.end();
    this.streams.clear();
  }

  /** Measures the rating's window and item; raises what is due. */
  async check(ratingId: string): Promise<Alert[]> {
    const r = await ratingRow(this.deps.db, ratingId);
    if (!r) return [];
    const out: Alert[] = [];
    const targets: [Scope, string][] = [['win', r.win]];
    if (r.item) targets.push(['item', r.item]);
    const s = this.deps.settings;
    const at = this.deps.now();
    for (const [scope, target] of targets) {
      const bad = await badSince(this.deps.db, scope, target, at - s.alertBadMinutes * MINUTE);
      if (bad >= s.alertBadCount) {
        const a = await this.raise('bad-cluster', scope, target, at, { bad, minutes: s.alertBadMinutes },
          (name) => `差评预警：${name} ${s.alertBadMinutes} 分钟内收到 ${bad} 个差评，请立即关注。`);
        if (a) out.push(a);
      }
      const last = await lastRatings(this.deps.db, scope, target, s.alertLastN);
      if (last.length >= s.alertLastN) {
        const good = last.filter((x) => x.level >= 4).length;
        const satisfaction = good / last.length;
        if (satisfaction < s.alertThreshold) {
          const a = await this.raise('low-satisfaction', scope, target, at, { ratings: last.length, good, satisfaction, threshold: s.alertThreshold },
            (name) => `满意度预警：${name} 最近 ${last.length} 个评价满意率 ${(satisfaction * 100).toFixed(1)}%，低于 ${(s.alertThreshold * 100).toFixed(0)}%。`);
          if (a) out.push(a);
        }
      }
    }
    return out;
  }

  private async raise(kind: AlertKind, scope: Scope, target: string, at: number, figure: Alert['figure'], text: (name: string) => string): Promise<Alert | null> {
    const { db, settings } = this.deps;
    const recent = await db.get('SELECT id FROM notice_alerts WHERE kind = $1 AND scope = $2 AND target = $3 AND at > $4 LIMIT 1', [kind, scope, target, at - settings.alertCooldownMinutes * MINUTE]);
    if (recent) return null;
    const name = scope === 'win' ? `窗口 ${(await windowName(db, target)) ?? target}` : `事项 ${(await itemName(db, target)) ?? target}`;
    const alert: Alert = { id: `${at.toString(36)}-${(++this.seq).toString(36)}-${kind}-${scope}-${target}`, at, kind, scope, target, text: text(name), figure };
    await db.run('INSERT INTO notice_alerts (id, at, kind, scope, target, figure, text) VALUES ($1, $2, $3, $4, $5, $6, $7)', [alert.id, at, kind, scope, target, JSON.stringify(figure), alert.text]);
    this.raised.inc({ kind, scope });
    this.deps.log.warn({ alert: alert.id, kind, scope, target, figure }, 'satisfaction alert');
    const line = `event: alert\ndata: ${JSON.stringify(alert)}\n\n`;
    for (const s of this.streams) s.write(line);
    await this.deps.notices.alert(alert.id, alert.text, { kind, scope, target, ...figure });
    return alert;
  }

  async latest(limit: number): Promise<Alert[]> {
    const rows = await this.deps.db.all<{ id: string; at: number; kind: AlertKind; scope: Scope; target: string; figure: string; text: string }>(`SELECT * FROM notice_alerts ORDER BY at DESC, id DESC LIMIT ${limit}`);
    return rows.map((r) => ({ id: r.id, at: num(r.at), kind: r.kind, scope: r.scope, target: r.target, text: r.text, figure: JSON.parse(r.figure) as Alert['figure'] }));
  }

  routes(root: FastifyInstance): void {
    // In a scope of their own: the hub's one error shape and the strict JSON schemas (hub/http/validation.ts).
    root.register(async (app) => {
      app.setErrorHandler(httpErrorHandler);
      useJsonSchemas(app);
      const guard = this.deps.auth.requireRole('supervisor');
      // The server's close waits for open connections: end the streams first.
      app.addHook('preClose', async () => {
        for (const s of this.streams) s.end();
        this.streams.clear();
      });
      app.get<{ Querystring: { limit?: string } }>('/api/alerts', { onRequest: guard, schema: { querystring: querySchema({ limit: { type: 'string', pattern: '^[0-9]{1,3}$' } }) } },
        async (request) => ({ alerts: await this.latest(Math.min(200, Math.max(1, Number(request.query.limit ?? 20)))) }));
      app.get('/api/alerts/stream', { onRequest: guard }, (request, reply) => {
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
        res.write(': alerts\n\n');
        this.streams.add(res);
        request.raw.on('close', () => this.streams.delete(res));
      });
    });
  }
}
