/**
 * The hub's HTTP server (fastify): health, Prometheus metrics, devices (list, provision,
 * config push), ledger verification, API tokens, and the queue's and application's routes.
 *
 *   GET  /healthz                                open: { ok, state } only; [supervisor, technician] the full body
 *   GET  /readyz                                 200 while commits succeed and there is room for them, else 503 (hub/health.ts)
 *   GET  /livez                                  200 while the process answers at all (a restart is the cure only when this fails)
 *   GET  /metrics                                open (Prometheus on the hall LAN)
 *   GET  /api/devices, GET /api/devices/:id      [supervisor, technician] one device also shows its desired config
 *   POST /api/devices                            [technician, supervisor] provision { role, win, id?, fw?, replace?, secret? (technician only) }: answers the secret, once;
 *                                                a second pad at a window is refused (409) unless a supervisor sends replace: true
 *   POST /api/devices/:id/rekey                  [technician, supervisor] a new secret, answered once; the old one stops working
 *   POST /api/devices/:id/move                   [technician, supervisor] { win, replace? } the one-pad rule as at provisioning
 *   DELETE /api/devices/:id                      [technician, supervisor] its credentials stop working; its ledger rows stay
 *   POST /api/devices/:id/config                 [technician, supervisor] { rateTimeout?, unsolicited?, volume?, idleText? }
 *   GET|POST /api/ledger/verify                  [supervisor, technician]
 *   GET  /api/tokens, POST /api/tokens, DELETE /api/tokens/:id   [supervisor] machine credentials (hub/app/tokens.ts)
 *
 * Roles are checked by auth.requireRole on request, before the body is parsed: 401 without a credential, 403
 * for a role not listed, and nothing changes. A credential is a session (password sign-in) or an
 * API token, both sent as a cookie or `Authorization: Bearer <token>`. A cookie-authenticated
 * change must come from the hub's own origin (hub/app/auth.ts, crossSite). Provisioning,
 * re-keying, moving and removal are ledger rows (kind 'device') naming who did them.
 *
 * Every answer carries @fastify/helmet's headers: a Content-Security-Policy with script-src
 * 'self' and frame-ancestors 'none' (no page of the hub can be framed), nosniff, and
 * Referrer-Policy same-origin (not no-referrer: with that a browser sends "Origin: null" on
 * the dashboard's own POSTs, which the cross-site check would refuse). The dashboard
 * (hub/web/plugin.ts) narrows style-src to 'self'; the server-rendered /public and /r pages keep
 * their one inline <style>. No HSTS: a hall hub often serves plain HTTP on its LAN; a TLS
 * proxy in front sets it.
 */

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { RegistryError, type Actor, type Registry, type ProvisionRequest } from '../devices/registry.js';
import type { Metrics } from '../metrics.js';
import { userOf, type Auth } from '../app/auth.js';
import { TokenError, type ApiTokens } from '../app/tokens.js';
import { parseDeviceConfig, REMOTE_SETTING_KEYS, REMOTE_SETTINGS } from '../../firmware/core/config.js';
import type { CommandBodies } from '../../firmware/core/protocol.js';
import { createRequire } from 'node:module';
import swagger from '@fastify/swagger';
import helmet from '@fastify/helmet';
import type { ErrorObject } from 'ajv';
import { httpErrorHandler, notFoundHandler, rejectRepeatedQuery } from './errors.js';
import { describeValidation, paramsSchema, strictAjv } from './validation.js';

/** What a config push may change: the firmware's remote settings (firmware/core/config.ts REMOTE_SETTINGS). */
export const PUSHABLE_SETTINGS = REMOTE_SETTING_KEYS;
export type ConfigChange = CommandBodies['config'];

export interface ConfigPushResult {
  device: string;
  /** The command's body: changed keys, null for the others. */
  settings: ConfigChange;
  /** Whether the device was connected when the command went out; an offline device gets its desired settings when it comes online. */
  online: boolean;
  /** Ledger time of the 'config' row. */
  at: number;
  /** Every push so far merged: what the device is sent again each time it comes online. */
  desired: ConfigChange;
}

export interface HttpDeps {
  registry: Registry;
  metrics: Metrics;
  log: Logger;
  /** Sessions and roles (the hall's application). */
  auth: Auth;
  tokens: ApiTokens;
  /** What /healthz reports; ok false answers 503. */
  health: () => Promise<{ ok: boolean; [key: string]: unknown }>;
  verify: () => Promise<unknown>;
  /** Records a config change in the ledger and sends the signed config command (hub/ingest/ingest.ts). */
  pushConfig: (dev: string, settings: ConfigChange, by: string) => Promise<{ at: number; desired: ConfigChange; sent: boolean }>;
  /** The settings the device is sent each time it comes online; null if none was ever pushed. */
  desiredConfig: (dev: string) => Promise<{ settings: ConfigChange; by: string; at: number } | null>;
  /** Mounts more routes (the queue's, the application's). */
  mount?: (app: FastifyInstance) => void;
  /** Reverse proxies whose X-Forwarded-* headers are believed (settings http.trustProxy); empty: none. */
  trustProxy?: string;
}

/** The Content-Security-Policy of every answer (helmet's directive names). Pages may narrow it (the dashboard) or, for the simulator's demo page, widen it. */
export const CSP_DIRECTIVES: Record<string, string[]> = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  // The server-rendered /public and /r/<token> pages carry one inline <style> (escaped text, no script).
  'style-src': ["'self'", "'unsafe-inline'"],
  'img-src': ["'self'", 'data:'],
  'connect-src': ["'self'"],
  'font-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

/** Route options for a page with its own policy: `app.get(url, cspFor({ 'style-src': ["'self'"] }), handler)`. */
export function cspFor(overrides: Record<string, string[]>): { helmet: { contentSecurityPolicy: { useDefaults: false; directives: Record<string, string[]> } } } {
  return { helmet: { contentSecurityPolicy: { useDefaults: false, directives: { ...CSP_DIRECTIVES, ...overrides } } } };
}

/** A config push body as JSON Schema, from the firmware's rule set (REMOTE_SETTINGS): validation and the OpenAPI description. */
export const CONFIG_PUSH_SCHEMA = {
  type: 'object',
  minProperties: 1,
  additionalProperties: false,
  properties: Object.fromEntries(REMOTE_SETTING_KEYS.map((key) => [key, { ...REMOTE_SETTINGS[key].schema, description: REMOTE_SETTINGS[key].message }])),
} as const;

/** A config push's schema failures in the words checkConfigChange uses: unknown keys first, then each value with its rule's message. */
export function describeConfigErrors(errors: ErrorObject[], context: string): { message: string; field: string } {
  if (context !== 'body') return describeValidation(errors, context);
  const problems: string[] = [];
  const ordered = [...errors.filter((e) => e.keyword === 'additionalProperties'), ...errors.filter((e) => e.keyword !== 'additionalProperties')];
  for (const e of ordered) {
    const key = e.instancePath.split('/')[1] as keyof typeof REMOTE_SETTINGS | undefined;
    const problem = e.keyword === 'additionalProperties'
      ? `body.${(e.params as { additionalProperty: string }).additionalProperty}: not a setting a config push can change; expected one of ${PUSHABLE_SETTINGS.join(', ')}`
      : e.keyword === 'minProperties' ? `body: expected at least one of ${PUSHABLE_SETTINGS.join(', ')}`
        : key && REMOTE_SETTINGS[key] ? `body.${key}: ${REMOTE_SETTINGS[key].message}`
          : 'body: expected a JSON object of settings, e.g. {"rateTimeout": 45000}';
    if (problems.indexOf(problem) < 0) problems.push(problem);
  }
  return { message: problems.join('; '), field: /^(body\.[A-Za-z]+|body)/.exec(problems[0])![1] };
}

/** Checks a config push body with the firmware's own rules (firmware/core/config.ts); every problem names its key. */
export function checkConfigChange(body: unknown, device: { id: string; role: string; site: string; win: string; secret: string }): ConfigChange | string[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return ['body: expected a JSON object of settings, e.g. {"rateTimeout": 45000}'];
  const raw = body as Record<string, unknown>;
  const problems: string[] = [];
  const keys = Object.keys(raw);
  for (const key of keys) if ((PUSHABLE_SETTINGS as readonly string[]).indexOf(key) < 0) problems.push(`body.${key}: not a setting a config push can change; expected one of ${PUSHABLE_SETTINGS.join(', ')}`);
  if (keys.length === 0) problems.push(`body: expected at least one of ${PUSHABLE_SETTINGS.join(', ')}`);
  if (problems.length) return problems;
  // The firmware's own validator, on the device's config with the changes applied.
  const parsed = parseDeviceConfig({ id: device.id, role: device.role, site: device.site, win: device.win, secret: device.secret, ...raw });
  if (Array.isArray(parsed)) return parsed.map((p) => `body.${p.key}: ${p.message}`);
  const pick = <K extends keyof ConfigChange>(k: K) => (k in raw ? (parsed[k] as ConfigChange[K]) : null);
  return { rateTimeout: pick('rateTimeout'), unsolicited: pick('unsolicited'), volume: pick('volume'), idleText: pick('idleText') };
}

/** What /healthz tells anyone: ids, device counts and checkpoints are for signed-in people. */
export function publicHealth(health: { ok: boolean; [key: string]: unknown }): { ok: boolean; state?: unknown } {
  return { ok: health.ok, state: health.state };
}

/** What /readyz answers: ready or not; why, for signed-in people (an error text names internals). */
export function readiness(health: { ok: boolean; [key: string]: unknown }, full: boolean): { ready: boolean; state?: unknown; why?: unknown } {
  const why = health.ok ? null : (health.why ?? (health.state !== 'running' ? `hub is ${String(health.state)}` : !health.db ? 'database unreachable' : !health.mqtt ? 'MQTT link down' : 'not ready'));
  return full ? { ready: health.ok, state: health.state, why } : { ready: health.ok, state: health.state };
}

/** A supervisor's or technician's session or API token (never throws: a failing database reads as none). */
export async function mayReadHealth(auth: Pick<Auth, 'session' | 'tokenOf'>, request: import('fastify').FastifyRequest): Promise<boolean> {
  const user = await auth.session(auth.tokenOf(request)).catch(() => undefined);
  return user?.role === 'supervisor' || user?.role === 'technician';
}

const HUB_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export function createHttp(deps: HttpDeps): FastifyInstance {
  const root = Fastify({
    loggerInstance: deps.log.child({ module: 'http' }) as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 64 * 1024,
    // Only named proxies: otherwise anyone could claim any address (throttling) or HTTPS (the Secure cookie) with a header.
    trustProxy: deps.trustProxy ? deps.trustProxy : false,
  }) as unknown as FastifyInstance;
  const { auth } = deps;
  root.register(helmet, {
    global: true,
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    referrerPolicy: { policy: 'same-origin' },
    xFrameOptions: { action: 'deny' },
    strictTransportSecurity: false,
  });
  // HTTP request metrics (hub/metrics.ts observeHttp): the matched route pattern, never the raw URL.
  root.addHook('onResponse', async (request, reply) => {
    deps.metrics.observeHttp(request.method, request.routeOptions?.url, reply.statusCode, reply.elapsedTime / 1000);
  });
  root.setErrorHandler(httpErrorHandler);
  root.setNotFoundHandler(notFoundHandler);
  root.addHook('preValidation', rejectRepeatedQuery);
  // The routes' JSON schemas, described at /api/openapi.json (registered before any route, so it sees them all).
  root.register(swagger, { openapi: { info: { title: 'sannuo hub', description: 'The HTTP API of one hall: queue, devices, the 三诺 application.', version: HUB_VERSION } } });
  root.register(async (app) => {
    app.get('/api/openapi.json', { schema: { hide: true } }, async () => root.swagger());
    const devicePeople = auth.requireRole('supervisor', 'technician');
    const supervisor = auth.requireRole('supervisor');

    app.get('/healthz', async (request, reply) => {
      const health = await deps.health();
      const full = await mayReadHealth(auth, request);
      return reply.code(health.ok ? 200 : 503).send(full ? health : publicHealth(health));
    });

    // Liveness for a supervisor (systemd, Docker, Kubernetes): the process answers, whatever the
    // database or the disk; restart on a failing /livez, take out of rotation on a failing /readyz.
    app.get('/livez', async () => ({ live: true }));

    // For a load balancer or a watchdog: 503 while commits fail or the disk is too full for them (hub/health.ts).
    app.get('/readyz', async (request, reply) => {
      const health = await deps.health();
      const full = await mayReadHealth(auth, request);
      return reply.code(health.ok ? 200 : 503).send(readiness(health, full));
    });

    app.get('/metrics', async (_request, reply) => {
      const text = await deps.metrics.text();
      return reply.type(deps.metrics.registry.contentType).send(text);
    });

    app.get('/api/devices', { onRequest: devicePeople }, async () => ({
      devices: deps.registry.list().map(({ secret: _secret, ...d }) => ({ ...d, health: deps.registry.health(d.id) })),
    }));

    app.get<{ Params: { id: string } }>('/api/devices/:id', { onRequest: devicePeople }, async (request, reply) => {
      const d = deps.registry.get(request.params.id);
      if (!d) return reply.code(404).send({ error: 'not-found', message: `params.id: device ${request.params.id} is not provisioned`, field: 'params.id' });
      const { secret: _secret, ...rest } = d;
      return { ...rest, health: deps.registry.health(d.id), desiredConfig: await deps.desiredConfig(d.id) };
    });

    const registryError = (error: unknown, reply: import('fastify').FastifyReply) => {
      if (!(error instanceof RegistryError)) throw error;
      const code = ({ 403: 'forbidden', 404: 'not-found', 409: 'conflict' } as Record<number, string>)[error.status] ?? 'bad-request';
      return reply.code(error.status).send({ error: code, message: error.message, field: error.field });
    };
    // The ledger names the person, or the API token (the CLI's path), who changed a device.
    const actorOf = (request: import('fastify').FastifyRequest): Actor => {
      const u = userOf(request);
      return { username: u.username, name: u.name, role: u.role };
    };

    // Provisioning answers the full DeviceConfig, secret included, once; it is never listed again.
    app.post<{ Body: ProvisionRequest }>('/api/devices', { onRequest: devicePeople }, async (request, reply) => {
      try {
        const config = await deps.registry.provision(request.body ?? ({} as ProvisionRequest), actorOf(request));
        request.log.info({ dev: config.id, role: config.role, win: config.win, by: userOf(request).username, ...(request.body?.secret !== undefined ? { givenSecret: true } : {}) }, 'device provisioned');
        return reply.code(201).send(config);
      } catch (error) {
        return registryError(error, reply);
      }
    });

    app.post<{ Params: { id: string } }>('/api/devices/:id/rekey', { onRequest: devicePeople }, async (request, reply) => {
      try {
        const config = await deps.registry.rekey(request.params.id, actorOf(request));
        request.log.info({ dev: config.id, by: userOf(request).username }, 'device re-keyed');
        return config;
      } catch (error) {
        return registryError(error, reply);
      }
    });

    app.post<{ Params: { id: string }; Body: { win?: unknown; replace?: unknown } }>('/api/devices/:id/move', { onRequest: devicePeople }, async (request, reply) => {
      try {
        const config = await deps.registry.move(request.params.id, request.body ?? {}, actorOf(request));
        request.log.info({ dev: config.id, win: config.win, by: userOf(request).username }, 'device moved');
        return config;
      } catch (error) {
        return registryError(error, reply);
      }
    });

    app.delete<{ Params: { id: string } }>('/api/devices/:id', { onRequest: devicePeople }, async (request, reply) => {
      try {
        const removed = await deps.registry.remove(request.params.id, actorOf(request));
        request.log.info({ dev: removed.device, by: userOf(request).username }, 'device removed');
        return removed;
      } catch (error) {
        return registryError(error, reply);
      }
    });

    // Every problem of a push at once (allErrors), as checkConfigChange reports them; the firmware's
    // validator (checkConfigChange) stays the final check, for what the schema cannot say.
    const configAjv = strictAjv({ allErrors: true });
    app.post<{ Params: { id: string } }>('/api/devices/:id/config', {
      onRequest: devicePeople,
      schema: { params: paramsSchema('id'), body: CONFIG_PUSH_SCHEMA },
      validatorCompiler: ({ schema }) => configAjv.compile(schema),
      schemaErrorFormatter: (errors, context) => {
        const { message, field } = describeConfigErrors(errors as ErrorObject[], context);
        return Object.assign(new Error(message), { field });
      },
    }, async (request, reply) => {
      const d = deps.registry.get(request.params.id);
      if (!d) return reply.code(404).send({ error: 'not-found', message: `params.id: device ${request.params.id} is not provisioned`, field: 'params.id' });
      const change = checkConfigChange(request.body, d);
      if (Array.isArray(change)) return reply.code(400).send({ error: 'bad-request', message: change.join('; '), field: /^(body\.[A-Za-z]+|body)/.exec(change[0])![1] });
      const { at, desired, sent: online } = await deps.pushConfig(d.id, change, userOf(request).username);
      const result: ConfigPushResult & { note?: string } = { device: d.id, settings: change, online, at, desired };
      if (!online) result.note = `device ${d.id} is offline: the change is recorded and sent when the device next comes online`;
      return result;
    });

    const verify = async () => deps.verify();
    app.get('/api/ledger/verify', { onRequest: devicePeople }, verify);
    app.post('/api/ledger/verify', { onRequest: devicePeople }, verify);

    const tokenError = (error: unknown, reply: import('fastify').FastifyReply) => {
      if (error instanceof TokenError) return reply.code(error.status).send({ error: error.status === 404 ? 'not-found' : 'bad-request', message: error.message, field: error.field });
      throw error;
    };
    app.get('/api/tokens', { onRequest: supervisor }, async () => ({ tokens: await deps.tokens.list() }));
    app.post<{ Body: { name?: unknown; role?: unknown; days?: unknown } }>('/api/tokens', { onRequest: supervisor }, async (request, reply) => {
      try {
        const b = request.body;
        if (typeof b !== 'object' || b === null || Array.isArray(b)) return reply.code(400).send({ error: 'bad-request', message: 'body: expected { name, role, days? }', field: 'body' });
        for (const key of Object.keys(b)) if (!['name', 'role', 'days'].includes(key)) return reply.code(400).send({ error: 'bad-request', message: `body.${key}: is not a known field`, field: `body.${key}` });
        return reply.code(201).send(await deps.tokens.create(b, userOf(request).username));
      } catch (error) {
        return tokenError(error, reply);
      }
    });
    app.delete<{ Params: { id: string } }>('/api/tokens/:id', { onRequest: supervisor }, async (request, reply) => {
      try {
        return await deps.tokens.revoke(request.params.id, userOf(request).username);
      } catch (error) {
        return tokenError(error, reply);
      }
    });

    deps.mount?.(app);
  });
  return root;
}
