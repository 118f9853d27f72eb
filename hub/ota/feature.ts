/**
 * Over-the-air updates as a hall feature: the image store, the staged rollouts, their routes,
 * and the bus listeners that carry a rollout on as devices report (deviceState) and come back
 * online (deviceOnline).
 *
 *   GET  /api/ota/release-key               [technician, supervisor] the public key devices are provisioned with
 *   POST /api/ota/images?version=&note=     [technician, supervisor] body: the image (application/octet-stream); signed and stored
 *   GET  /api/ota/images                    [technician, supervisor]
 *   GET  /ota/images/<version>.bin          [anyone on the LAN] the image, Range requests answered 206 (devices download in chunks;
 *                                           the image is signed, so who fetches it learns nothing secret and can change nothing)
 *   GET  /api/ota/rollouts, /api/ota/rollouts/current, /api/ota/rollouts/:id
 *   POST /api/ota/rollouts                  [technician, supervisor] { version, devices?, canary?, canaryDevices? }
 *   POST /api/ota/rollouts/:id/pause | resume | rollback
 */

import fs from 'node:fs';
import { Gauge, type Registry as MetricsRegistry } from 'prom-client';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Feature, FeatureDeps } from '../feature.js';
import type { Migration } from '../db/db.js';
import { userOf } from '../app/auth.js';
import type { Actor } from '../devices/registry.js';
import { HttpError, httpErrorHandler, rejectRepeatedQuery } from '../http/errors.js';
import { objectSchema, paramsSchema, querySchema, useJsonSchemas } from '../http/validation.js';
import type { CommandBodies } from '../../firmware/core/protocol.js';
import type { ReleaseKey } from './release-key.js';
import { ImageStore, storeMigrations, VERSION_PATTERN } from './store.js';
import { Rollouts, rolloutMigrations, type RolloutRequest, type TargetStatus } from './rollout.js';

const MIB = 1024 * 1024;

/** What the feature needs from its hall beyond FeatureDeps. */
export interface OtaHooks {
  releaseKey: ReleaseKey;
  /** <data>/ota (or per hall in a district). */
  dir: string;
  maxImageBytes: number;
  devices(): string[];
  runningFw(dev: string): string | null;
  online(dev: string): boolean;
  send(dev: string, body: CommandBodies['update']): Promise<void>;
  /** The base URL devices download from (no trailing slash). */
  base(): string;
  /** Where sannuo_ota_rollout_devices is registered (not in a district: one registry, several halls). */
  metricsRegistry?: MetricsRegistry;
}

/** Every status a rollout's device can have: the metric's closed label set. */
export const TARGET_STATUSES: readonly TargetStatus[] = ['waiting', 'offered', 'downloading', 'done', 'failed', 'reverting', 'reverted', 'skipped'];

export class OtaFeature implements Feature {
  readonly name = 'ota';
  readonly migrations: Migration[] = [...storeMigrations, ...rolloutMigrations];
  readonly store: ImageStore;
  readonly rollouts: Rollouts;

  constructor(private readonly deps: FeatureDeps, private readonly hooks: OtaHooks) {
    this.store = new ImageStore(deps.db, hooks.dir, hooks.releaseKey, hooks.maxImageBytes);
    this.rollouts = new Rollouts({
      db: deps.db, ledger: deps.ledger, store: this.store, log: deps.log.child({ feature: 'ota' }), now: deps.now,
      devices: hooks.devices, runningFw: hooks.runningFw, online: hooks.online,
      send: (dev, body) => hooks.send(dev, body).catch((error) => { deps.log.warn({ dev, err: String(error) }, 'ota: update command not sent; sent again when the device comes online'); }),
      imageUrl: (version) => `${hooks.base()}/ota/images/${version}.bin`,
    });
  }

  async start(): Promise<void> {
    await this.rollouts.init();
    const registry = this.hooks.metricsRegistry;
    if (registry && !registry.getSingleMetric('sannuo_ota_rollout_devices')) {
      const rollouts = this.rollouts;
      new Gauge({
        name: 'sannuo_ota_rollout_devices', help: 'Devices of the running firmware rollout, by status (all 0 when none runs)', labelNames: ['status'], registers: [registry],
        collect() {
          const targets = rollouts.current()?.targets ?? [];
          for (const status of TARGET_STATUSES) this.set({ status }, targets.filter((t) => t.status === status).length);
        },
      });
    }
    const logged = (what: string) => (error: unknown) => this.deps.log.error({ err: String(error) }, `ota: ${what} failed`);
    this.deps.bus.on('deviceState', this.name, ({ dev, fw, upd }) => this.rollouts.onState(dev, fw, upd ?? undefined).catch(logged('a device state')));
    this.deps.bus.on('deviceOnline', this.name, ({ dev }) => this.rollouts.onOnline(dev).catch(logged('a device coming online')));
  }

  stop(): void {
    this.deps.bus.off(this.name);
  }

  routes(app: FastifyInstance): void {
    const auth = this.deps.auth;
    const people = auth.requireRole('technician', 'supervisor');
    const actorOf = (request: FastifyRequest): Actor => {
      const u = userOf(request);
      return { username: u.username, name: u.name, role: u.role };
    };
    app.register(async (scope) => {
      scope.setErrorHandler(httpErrorHandler);
      useJsonSchemas(scope);
      scope.addHook('preValidation', rejectRepeatedQuery);
      // Room above the limit, so a slightly larger image meets the store's own check and its field; far larger ones get fastify's 413.
      scope.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: this.hooks.maxImageBytes + MIB }, (_req, body, done) => done(null, body));

      scope.get('/api/ota/release-key', { onRequest: people }, async () => ({ publicKey: this.hooks.releaseKey.publicHex, algorithm: 'ed25519' }));

      scope.post<{ Querystring: { version: string; note?: string } }>('/api/ota/images', {
        onRequest: people,
        schema: { querystring: querySchema({ version: { type: 'string', pattern: VERSION_PATTERN.source }, note: { type: 'string', maxLength: 200 } }, ['version']) },
      }, async (request, reply) => {
        if (!Buffer.isBuffer(request.body)) throw new HttpError(400, 'body: send the image as application/octet-stream', 'headers.content-type');
        const actor = actorOf(request);
        const image = await this.store.put(request.query.version, request.body, request.query.note ?? null, actor.username, this.deps.now(), async (tx, img) => {
          await this.deps.ledger.append(tx, [{ kind: 'ota', dev: null, boot: null, seq: null, at: img.at, body: { action: 'upload', version: img.version, size: img.size, sha256: img.sha256, by: actor.username, byName: actor.name, byRole: actor.role } }]);
        });
        request.log.info({ version: image.version, size: image.size, sha256: image.sha256, by: actor.username }, 'ota: image stored');
        return reply.code(201).send(image);
      });

      scope.get('/api/ota/images', { onRequest: people }, async () => ({ images: await this.store.list() }));

      scope.get<{ Params: { file: string } }>('/ota/images/:file', { schema: { params: paramsSchema('file') } }, async (request, reply) => {
        const m = /^(.+)\.bin$/.exec(request.params.file);
        const image = m && VERSION_PATTERN.test(m[1]) ? await this.store.get(m[1]) : undefined;
        if (!image) throw new HttpError(404, `params.file: no image ${request.params.file}`, 'params.file');
        const range = parseRange(request.headers.range, image.size);
        if (range === 'bad') return reply.code(416).header('content-range', `bytes */${image.size}`).send({ error: 'bad-request', message: `headers.range: expected bytes=<from>-<to> within ${image.size} bytes`, field: 'headers.range' });
        const [from, to] = range ?? [0, image.size - 1];
        const bytes = Buffer.alloc(to - from + 1);
        const fd = await fs.promises.open(this.store.file(image.version), 'r');
        try {
          await fd.read(bytes, 0, bytes.length, from);
        } finally {
          await fd.close();
        }
        reply.header('accept-ranges', 'bytes').header('x-sannuo-sha256', image.sha256).type('application/octet-stream');
        if (range) reply.code(206).header('content-range', `bytes ${from}-${to}/${image.size}`);
        return reply.send(bytes);
      });

      scope.get('/api/ota/rollouts', { onRequest: people }, async () => ({ rollouts: await this.rollouts.list() }));
      scope.get('/api/ota/rollouts/current', { onRequest: people }, async () => ({ rollout: this.rollouts.current() ?? null }));
      scope.get<{ Params: { id: string } }>('/api/ota/rollouts/:id', { onRequest: people, schema: { params: paramsSchema('id') } }, async (request) => this.rollouts.get(request.params.id));

      scope.post<{ Body: RolloutRequest }>('/api/ota/rollouts', {
        onRequest: people,
        schema: {
          body: withRequired(['version'], objectSchema({
            version: { type: 'string', pattern: VERSION_PATTERN.source },
            devices: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$' }, minItems: 1, maxItems: 10000 },
            canary: { type: 'integer', minimum: 1, maximum: 10000 },
            batch: { type: 'integer', minimum: 1, maximum: 10000 },
            canaryDevices: { type: 'array', items: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$' }, minItems: 1, maxItems: 10000 },
          })),
        },
      }, async (request, reply) => reply.code(201).send(await this.rollouts.start(request.body, actorOf(request))));

      for (const action of ['pause', 'resume', 'rollback'] as const) {
        scope.post<{ Params: { id: string } }>(`/api/ota/rollouts/:id/${action}`, { onRequest: people, schema: { params: paramsSchema('id') } }, async (request) => {
          const actor = actorOf(request);
          const r = action === 'pause' ? await this.rollouts.pause(request.params.id, actor) : action === 'resume' ? await this.rollouts.resume(request.params.id, actor) : await this.rollouts.rollback(request.params.id, actor);
          request.log.info({ rollout: r.id, version: r.version, status: r.status, by: actor.username }, `ota: rollout ${action}`);
          return r;
        });
      }
    });
  }
}

/** `Range: bytes=a-b` (one range) → [a, b]; undefined without one; 'bad' when it does not fit. */
export function parseRange(header: string | undefined, size: number): [number, number] | undefined | 'bad' {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d{1,15})-(\d{0,15})$/.exec(header.trim());
  if (!m) return 'bad';
  const from = Number(m[1]);
  const to = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return from <= to && from < size ? [from, to] : 'bad';
}

function withRequired<T extends { required: string[] }>(required: string[], schema: T): T {
  return { ...schema, required: [...schema.required, ...required] };
}

export { MIB };
