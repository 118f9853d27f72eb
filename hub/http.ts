/**
 * The hub's HTTP server (fastify): health, Prometheus metrics, devices (list, provision),
 * ledger verification, and the queue's own routes.
 */

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { RegistryError, type Registry, type ProvisionRequest } from './registry.js';
import type { Metrics } from './metrics.js';

export interface HttpDeps {
  registry: Registry;
  metrics: Metrics;
  log: Logger;
  /** What /healthz reports; ok false answers 503. */
  health: () => Promise<{ ok: boolean; [key: string]: unknown }>;
  verify: () => Promise<unknown>;
  /** Mounts more routes (the queue's). */
  mount?: (app: FastifyInstance) => void;
}

export function createHttp(deps: HttpDeps): FastifyInstance {
  const app = Fastify({ loggerInstance: deps.log.child({ module: 'http' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 64 * 1024 }) as unknown as FastifyInstance;

  app.get('/healthz', async (_request, reply) => {
    const health = await deps.health();
    return reply.code(health.ok ? 200 : 503).send(health);
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await deps.metrics.text();
    return reply.type(deps.metrics.registry.contentType).send(text);
  });

  app.get('/api/devices', async () => ({
    devices: deps.registry.list().map(({ secret: _secret, ...d }) => ({ ...d, health: deps.registry.health(d.id) })),
  }));

  app.get<{ Params: { id: string } }>('/api/devices/:id', async (request, reply) => {
    const d = deps.registry.get(request.params.id);
    if (!d) return reply.code(404).send({ error: `device ${request.params.id} is not provisioned` });
    const { secret: _secret, ...rest } = d;
    return { ...rest, health: deps.registry.health(d.id) };
  });

  // Provisioning answers the full DeviceConfig, secret included, once; it is never listed again.
  app.post<{ Body: ProvisionRequest }>('/api/devices', async (request, reply) => {
    try {
      const config = await deps.registry.provision(request.body ?? ({} as ProvisionRequest));
      return reply.code(201).send(config);
    } catch (error) {
      if (error instanceof RegistryError) return reply.code(error.status).send({ error: error.message });
      throw error;
    }
  });

  const verify = async () => deps.verify();
  app.get('/api/ledger/verify', verify);
  app.post('/api/ledger/verify', verify);

  deps.mount?.(app);
  return app;
}
