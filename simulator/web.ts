/**
 * The virtual hall for the browser, as a fastify plugin the hub mounts (prefix /sim):
 *   GET  /sim/                      the page (simulator/web/hall.html, plain HTML + JS)
 *   GET  /sim/api/hall              every window: what its display and pad last rendered (the
 *                                   View objects the firmware passed to Display.render), links,
 *                                   outboxes, and the hall's counters
 *   GET  /sim/api/events            server-sent events: `view` per render, `hall` once a second
 *   POST /sim/api/press             { device, key } presses key 0–4 of a pad or display
 *   POST /sim/api/fault             { kind, device?, duration?, hours?, key? } injects a fault
 */

import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { View } from '../firmware/core/hardware.js';
import { cspFor } from '../hub/http/server.js';
import type { Hall } from './hall.js';
import { FAULT_KINDS, type FaultKind } from './scenario.js';
import type { SimDevice } from './sim-device.js';

const PAGE = fileURLToPath(new URL('./web/hall.html', import.meta.url));

export interface SimWebOptions {
  /** The hall to show; a getter, since the hub may mount the plugin before the hall is set up. */
  hall: () => Hall | undefined;
}

export function simWeb(app: FastifyInstance, options: SimWebOptions, prefix = '/sim'): void {
  const hallOr404 = (reply: FastifyReply): Hall | undefined => {
    const hall = options.hall();
    if (!hall) void reply.code(404).send({ error: 'not-found', message: 'no simulated hall is running in this process' });
    return hall;
  };

  app.get(`${prefix}`, async (_request, reply) => reply.redirect(`${prefix}/`));
  // The demo page is one file with its script and style inline: allowed here only.
  app.get(`${prefix}/`, cspFor({ 'script-src': ["'self'", "'unsafe-inline'"] }), async (_request, reply) => reply.type('text/html; charset=utf-8').send(fs.readFileSync(PAGE, 'utf8')));

  app.get(`${prefix}/api/hall`, async (_request, reply) => {
    const hall = hallOr404(reply);
    if (!hall) return reply;
    return hall.snapshot();
  });

  app.post<{ Body: { device?: unknown; key?: unknown } }>(`${prefix}/api/press`, async (request, reply) => {
    const hall = hallOr404(reply);
    if (!hall) return reply;
    const { device, key } = (request.body ?? {}) as { device?: unknown; key?: unknown };
    const target = typeof device === 'string' ? hall.devices.get(device) : undefined;
    if (!target) return reply.code(400).send({ error: 'bad-request', field: 'body.device', message: `body.device: expected the id of a device of this hall (${[...hall.devices.keys()].slice(0, 4).join(', ')}…)` });
    if (!(Number.isInteger(key) && (key as number) >= 0 && (key as number) <= 4)) return reply.code(400).send({ error: 'bad-request', field: 'body.key', message: 'body.key: expected a key index 0–4' });
    target.press(key as number, hall.scenario.devices.keyHold);
    return { ok: true, device: target.id, key };
  });

  app.post<{ Body: Record<string, unknown> }>(`${prefix}/api/fault`, async (request, reply) => {
    const hall = hallOr404(reply);
    if (!hall) return reply;
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (FAULT_KINDS.indexOf(body.kind as FaultKind) < 0) return reply.code(400).send({ error: 'bad-request', field: 'body.kind', message: `body.kind: expected one of ${FAULT_KINDS.join(', ')}` });
    try {
      return await hall.inject({
        kind: body.kind as FaultKind,
        device: typeof body.device === 'string' ? body.device : '*',
        duration: typeof body.duration === 'number' ? body.duration : 10,
        hours: typeof body.hours === 'number' ? body.hours : 3,
        key: typeof body.key === 'number' ? body.key : 0,
      });
    } catch (error) {
      return reply.code(400).send({ error: 'bad-request', field: 'body.device', message: `body.device: ${(error as Error).message}` });
    }
  });

  app.get(`${prefix}/api/events`, (request, reply) => {
    const hall = hallOr404(reply);
    if (!hall) return reply;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('hall', hall.snapshot());
    const onView = (device: SimDevice, view: View) => send('view', { device: device.id, role: device.role, win: device.win, view });
    hall.on('view', onView);
    const timer = setInterval(() => send('hall', hall.snapshot()), 1000);
    request.raw.on('close', () => {
      clearInterval(timer);
      hall.off('view', onView);
    });
  });
}
