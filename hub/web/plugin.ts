/**
 * The dashboard's HTTP side: serves the static pages under hub/web/static and Chart.js from
 * node_modules (the hall PC often has no Internet, so nothing comes from a CDN). Mounted by the
 * hub with one line: `dashboard(app)`.
 *
 *   GET /                 → 302 /app/
 *   GET /app/             the signed-in dashboard (hash routes: #/hall, #/ratings, …)
 *   GET /app/public       the public view, no sign-in: published commitments and the exposure
 *                         board (hub/app serves a plain server-rendered one at /public)
 *   GET /app/<file>       its scripts and styles (only files that exist under static/)
 *   GET /app/vendor/chart.umd.min.js
 *
 * Every page answers with a strict Content-Security-Policy (hub/http/server.ts CSP_DIRECTIVES,
 * style-src 'self'): no inline script or style, nothing from elsewhere, never in a frame.
 *
 * Files are read once at start-up into memory with an ETag: the set is small and fixed, and a
 * request can never name a path outside it (no traversal to guard against).
 */

import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { cspFor } from '../http/server.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
};

interface Asset { body: Buffer; type: string; etag: string }

export const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));

function asset(file: string): Asset {
  const body = fs.readFileSync(file);
  const type = TYPES[path.extname(file)] ?? 'application/octet-stream';
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

function walk(dir: string, base = dir, out = new Map<string, Asset>()): Map<string, Asset> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, base, out);
    else if (entry.isFile()) out.set(path.relative(base, full).split(path.sep).join('/'), asset(full));
  }
  return out;
}

/** Chart.js's UMD build, found through its package so an upgrade moves with it. */
export function chartJsFile(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js');
}

export interface DashboardOptions {
  /** Folder of the static files; the default is hub/web/static. */
  root?: string;
}

export function dashboard(app: FastifyInstance, options: DashboardOptions = {}): void {
  const files = walk(options.root ?? STATIC_DIR);
  files.set('vendor/chart.umd.min.js', asset(chartJsFile()));

  const send = (request: FastifyRequest, reply: FastifyReply, a: Asset | undefined) => {
    if (!a) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
    // no-cache: revalidate each time, so a hub upgrade reaches the hall PC at the next load.
    reply.header('cache-control', 'no-cache').header('etag', a.etag).header('x-content-type-options', 'nosniff');
    if (request.headers['if-none-match'] === a.etag) return reply.code(304).send();
    return reply.type(a.type).send(a.body);
  };

  // The dashboard has no inline script or style (dom.js sets styles through the CSSOM, which a CSP allows), so its policy is the strictest.
  const strict = cspFor({ 'style-src': ["'self'"] });
  app.get('/', async (_request, reply) => reply.redirect('/app/'));
  app.get('/app', async (_request, reply) => reply.redirect('/app/'));
  app.get('/app/', strict, async (request, reply) => send(request, reply, files.get('index.html')));
  app.get('/app/public', strict, async (request, reply) => send(request, reply, files.get('public.html')));
  app.get<{ Params: { '*': string } }>('/app/*', strict, async (request, reply) => send(request, reply, files.get(request.params['*'])));
}
