/**
 * A district hub's HTTP server: health, metrics and the lease table at the root; each hall it
 * holds under /halls/<hall>/, answered by that hall's own server as if at its root. A hall held
 * by another hub answers 421 naming the holder; one between hubs 503 with retry-after.
 */

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { mayReadHealth, publicHealth, readiness } from '../http/server.js';
import type { District } from './district.js';

export function districtHttp(district: District): FastifyInstance {
  const app = Fastify({ loggerInstance: district.log.child({ module: 'http' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 64 * 1024 }) as unknown as FastifyInstance;
  app.addHook('onRequest', async (request, reply) => {
    const m = /^\/halls\/([^/?]+)(\/[^?]*)?(\?.*)?$/.exec(request.raw.url ?? '');
    if (!m) return;
    const hall = decodeURIComponent(m[1]);
    const runtime = district.hall(hall);
    if (!runtime?.http) {
      const lease = await district.leases.holderOf(hall).catch(() => undefined);
      if (!lease) return reply.code(404).send({ error: `hall ${hall} is not registered in this district` });
      const holder = lease.holder && !lease.expired ? lease.holder : null;
      return reply.code(holder ? 421 : 503).header('retry-after', holder ? undefined : String(district.settings.cluster.pollInterval / 1000 + 1))
        .send({ error: holder ? `hall ${hall} is served by hub ${holder}, not by ${district.hubId}` : `hall ${hall} is between hubs; try again shortly`, holder });
    }
    // The hall's own server answers, as if at its root.
    request.raw.url = (m[2] || '/') + (m[3] ?? '');
    reply.hijack();
    runtime.http.routing(request.raw, reply.raw);
  });
  app.get('/healthz', async (request, reply) => {
    const health = await district.health();
    // Credentials are a hall's; any hall this hub serves may vouch for them.
    let full = false;
    for (const h of district.halls()) if (!full && h.app) full = await mayReadHealth(h.app.auth, request);
    return reply.code(health.ok ? 200 : 503).send(full ? health : publicHealth(health));
  });
  app.get('/livez', async () => ({ live: true }));
  app.get('/readyz', async (request, reply) => {
    const health = await district.health();
    let full = false;
    for (const h of district.halls()) if (!full && h.app) full = await mayReadHealth(h.app.auth, request);
    return reply.code(health.ok ? 200 : 503).send(readiness(health, full));
  });
  app.get('/metrics', async (_request, reply) => reply.type(district.metrics.registry.contentType).send(await district.metrics.text()));
  app.get('/api/halls', async () => ({
    hub: district.hubId,
    serving: district.keeper?.leases() ?? [],
    leases: await district.leases.list(),
  }));
  return app;
}
