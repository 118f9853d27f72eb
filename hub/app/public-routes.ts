/**
 * Public routes, no sign-in, read-only or anonymous:
 *   GET  /public                  HTML: published commitments and the exposure board
 *   GET  /api/public/commitments?year=, GET /api/public/exposures, POST /api/public/suggestions { category, text, department?, win? }
 *   GET  /r/:token  POST /r/:token                 the phone rating page (form or JSON)
 * The phone page answers its own errors as HTML for a form post, so its body is checked by hand
 * (hub/app/channels.ts ratePhone), not by a JSON schema whose refusal would be JSON.
 */

import type { FastifyInstance } from 'fastify';
import { BAD_RATING_MAX, BAD_RATING_REASONS, BAD_RATING_REASON_LABELS, RATING_LABELS, type BadRatingReason, type RatingLevel } from '../../firmware/core/protocol.js';
import { withMeasure, YEAR_QUERY, type AppContext } from './context.js';
import { AppError } from './http-util.js';
import { objectSchema, querySchema } from '../http/validation.js';

export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The one route that takes an HTML form: the phone rating page (a plain form, so it works without JavaScript). */
export const PHONE_FORM_ROUTE = '/r/:token';

const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:0 auto;max-width:42rem;padding:1rem;line-height:1.5}
h1{font-size:1.3rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;font-size:.9rem}
.levels button{display:block;width:100%;margin:.4rem 0;padding:.9rem;font-size:1.1rem;border-radius:.5rem;border:1px solid #888;background:#fff}
.levels button.bad{border-color:#c33}.note{color:#555}.err{color:#b00}</style></head><body>${body}</body></html>`;
}

export function publicRoutes(app: FastifyInstance, ctx: AppContext): void {
  const { channels, commitments, options } = ctx;
  const publicCommitments = async (year: number | undefined) => (await withMeasure(commitments, await commitments.list({ year, published: true }))).map((c) => ({
    id: c.id, version: c.publishedVersion, department: c.department, year: c.year, clause: c.clause, title: c.title, metric: c.metric, item: c.item,
    target: c.target, measures: c.measures, owner: c.owner, deadline: c.deadline, publishedAt: c.publishedAt, measured: c.measured,
  }));
  app.get<{ Querystring: { year?: string } }>('/api/public/commitments', { schema: { querystring: querySchema({ year: YEAR_QUERY }) } }, async (request) => {
    const y = request.query.year;
    return { commitments: await publicCommitments(y ? Number(y) : undefined) };
  });
  app.get('/api/public/exposures', async () => ({ exposures: await channels.exposures() }));
  // The category is checked by channels.suggest, which names it.
  app.post<{ Body: { category: string; text: string; department?: string | null; win?: string | null } }>('/api/public/suggestions', {
    schema: { body: objectSchema({ category: 'string', text: 'string', department: 'string?', win: 'string?' }) },
  }, async (request, reply) => {
    const b = request.body;
    return reply.code(201).send(await channels.suggest({ category: b.category, text: b.text, department: b.department || null, win: b.win || null }));
  });
  app.get('/public', async (_request, reply) => {
    const year = Number(new Date(ctx.now() + options.utcOffsetMinutes * 60_000).toISOString().slice(0, 4));
    const list = await publicCommitments(year);
    const exposures = await channels.exposures();
    const rows = list.map((c) => `<tr><td>${escapeHtml(c.department)} ${escapeHtml(c.clause)}</td><td>${escapeHtml(c.title)}<div class="note">${escapeHtml(c.measures)}</div></td>
        <td>${c.target ?? '—'}</td><td>${c.measured.value === null ? '—' : escapeHtml(c.metric === 'visits' ? c.measured.value.toFixed(2) : pct(c.measured.value))}</td></tr>`).join('');
    const ex = exposures.map((e) => `<li><b>${escapeHtml(e.title)}</b> <span class="note">${new Date(e.at as number).toISOString().slice(0, 10)}</span><br>${escapeHtml(e.body)}${e.rectification ? `<br><span class="note">整改：${escapeHtml(e.rectification)}</span>` : ''}</li>`).join('');
    return reply.type('text/html; charset=utf-8').send(page(`${options.hallName} 承诺公示`, `<h1>${escapeHtml(options.hallName)} ${year}年服务承诺</h1>
<table><tr><th>条款</th><th>承诺</th><th>目标</th><th>实测</th></tr>${rows || '<tr><td colspan="4">暂无公示承诺</td></tr>'}</table>
<h1>曝光台</h1><ul>${ex || '<li>暂无</li>'}</ul>`));
  });

  const ratingPage = async (token: string, message: string | null, error: string | null) => {
    const info = await channels.lookup(token);
    if (!info.open) return page('评价', `<h1>服务评价</h1><p>${escapeHtml(message ?? '')}</p><p class="${message ? 'note' : 'err'}">${escapeHtml(message ? '' : info.why)}</p>`);
    const levels = ([5, 4, 3, 2, 1] as RatingLevel[]).map((l) => `<button name="level" value="${l}" class="${l <= BAD_RATING_MAX ? 'bad' : ''}">${escapeHtml(RATING_LABELS[l])}</button>`).join('');
    const reasons = BAD_RATING_REASONS.map((r) => `<option value="${r}">${escapeHtml(BAD_RATING_REASON_LABELS[r as BadRatingReason])}</option>`).join('');
    return page('评价', `<h1>请为本次服务评价</h1><p>${escapeHtml(info.item)} · ${escapeHtml(info.number)} · ${escapeHtml(info.win ?? '')}</p>
${error ? `<p class="err">${escapeHtml(error)}</p>` : ''}<form method="post" class="levels">
<p class="note">选“不满意”或“非常不满意”时请选择原因：</p><select name="reason"><option value="">（原因）</option>${reasons}</select>${levels}</form>`);
  };
  const errorPage = (error: AppError) => page('评价', `<h1>服务评价</h1><p class="err">${escapeHtml(error.message.replace(/^token: /, ''))}</p>`);
  app.get<{ Params: { token: string } }>(PHONE_FORM_ROUTE, async (request, reply) => {
    try {
      return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(await ratingPage(request.params.token, null, null));
    } catch (error) {
      if (error instanceof AppError) return reply.code(error.status).type('text/html; charset=utf-8').send(errorPage(error));
      throw error;
    }
  });
  app.post<{ Params: { token: string } }>(PHONE_FORM_ROUTE, async (request, reply) => {
    const html = (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    try {
      const b = (request.body ?? {}) as Record<string, unknown>;
      const level = typeof b.level === 'string' ? Number(b.level) : b.level;
      const reason = typeof b.reason === 'string' && b.reason !== '' ? b.reason : null;
      const rater = await ctx.auth.session(ctx.auth.tokenOf(request));
      const result = await channels.ratePhone(request.params.token, level as number, reason, rater);
      if (ctx.bus) ctx.bus.emit('ratingCommitted', { rating: result.rating, channel: 'phone', level: level as number, win: null });
      else ctx.onRatingsCommitted();
      if (html) return reply.type('text/html; charset=utf-8').send(page('评价', '<h1>谢谢您的评价</h1><p class="note">您的评价已记录。</p>'));
      return reply.code(201).send({ ok: true, rating: result.rating });
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      if (html) {
        let answer: string;
        try {
          answer = await ratingPage(request.params.token, null, error.message.replace(/^[a-z]+: /, ''));
        } catch {
          answer = errorPage(error);
        }
        return reply.code(error.status).type('text/html; charset=utf-8').send(answer);
      }
      throw error;
    }
  });
}
