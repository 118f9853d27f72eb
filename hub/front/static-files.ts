/**
 * The front's pages (kiosk, board) and their scripts, from hub/front/static/, read once at
 * start. No inline script or style, so they get the dashboard's strict policy; the board also
 * plays its announcements' audio from the hub (media-src 'self').
 */

import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { cspFor } from '../http/server.js';

export const FRONT_STATIC = fileURLToPath(new URL('./static/', import.meta.url));
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

interface Asset { body: Buffer; type: string; etag: string }
let files: Map<string, Asset> | undefined;

function load(): Map<string, Asset> {
  if (files) return files;
  files = new Map();
  for (const name of fs.readdirSync(FRONT_STATIC)) {
    const body = fs.readFileSync(path.join(FRONT_STATIC, name));
    files.set(name, { body, type: TYPES[path.extname(name)] ?? 'application/octet-stream', etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return files;
}

export const PAGE_CSP = cspFor({ 'style-src': ["'self'"], 'media-src': ["'self'"] });

export function sendFile(request: FastifyRequest, reply: FastifyReply, name: string): FastifyReply {
  const a = load().get(name);
  if (!a) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
  reply.header('cache-control', 'no-cache').header('etag', a.etag).header('x-content-type-options', 'nosniff');
  if (request.headers['if-none-match'] === a.etag) return reply.code(304).send();
  return reply.type(a.type).send(a.body);
}

/** GET /<page>/ and GET /<page>/<file> for the page's own folder of assets. */
export function servePage(app: FastifyInstance, page: string): void {
  app.get(`/${page}`, async (_request, reply) => reply.redirect(`/${page}/`));
  app.get(`/${page}/`, PAGE_CSP, async (request, reply) => sendFile(request, reply, `${page}.html`));
  app.get<{ Params: { file: string } }>(`/${page}/:file`, PAGE_CSP, async (request, reply) => {
    const f = request.params.file;
    // Only this page's scripts and the shared style sheet.
    if (!/^[a-z-]+\.(js|css)$/.test(f) || !(f.startsWith(page) || f === 'front.css')) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
    return sendFile(request, reply, f);
  });
}
