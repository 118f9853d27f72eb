/**
 * Hub settings: one optional JSON file (--config or SANNUO_CONFIG) plus SANNUO_* environment
 * overrides, validated against hub/settings.schema.json (a default and a description for every
 * key). An error names the key, what is wrong and where the value came from:
 *   settings: mqtt.port: must be ≤ 65535 (from SANNUO_MQTT_PORT)
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';

export interface Settings {
  site: string;
  hall: string;
  data: string;
  db: string;
  broker: string;
  cluster: { halls: string[]; register: string[]; hubId: string; leaseTtl: number; renewInterval: number; pollInterval: number; maxHalls: number };
  mqtt: { host: string; port: number; hubUser: string; advertisedHost: string; advertisedPort: number; tls: boolean; tlsListener: { host: string; port: number; cert: string; key: string }; maxPacketBytes: number; maxConnectionsPerAddress: number; persistentSession: boolean };
  mosquitto: { write: boolean; dir: string; pidFile: string; user: string };
  http: { host: string; port: number; secureCookies: 'auto' | 'always' | 'never'; trustProxy: string };
  api: { token: string; tokenRole: 'supervisor' | 'technician'; ticketsPerMinute: number };
  ingest: { batchWindow: number; maxBatch: number; intakeThread: 'external' | 'always' | 'never' };
  ledger: { checkpointInterval: number };
  timeSync: { interval: number };
  health: { lowDiskMb: number; minFreeMb: number; probeMs: number };
  shutdown: { timeout: number };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; pretty: boolean };
  hallName: string;
  publicUrl: string;
  calendarFile: string;
  calendarNational: boolean;
  admin: { user: string; password: string };
  cases: { callbackDays: number; rectifyDays: number; feedbackDays: number; reviewDays: number };
  day: { earlyMinutes: number; graceMinutes: number; sweepSeconds: number };
  platform: {
    enabled: boolean; adapter: 'file' | 'http'; profile: 'national' | 'stars'; region: string; departments: Record<string, string>;
    file: { dir: string; format: 'jsonl' | 'csv' };
    http: { endpoint: string; body: 'json' | 'form'; user: string; password: string; token: string; timeout: number };
    interval: number; batch: number; retryBase: number; retryMax: number;
  };
  defaultRating: { days: number; hour: number };
  queue: { noShowReturns: number; transferPlacement: 'front' | 'back'; rateTimeout: number; bindWindow: number; utcOffsetMinutes: number; numberDigits: number };
  discovery: { mdns: boolean; name: string };
  ota: { baseUrl: string; maxImageMb: number };
  front: {
    printer: { host: string; port: number; timeoutMs: number; pollMs: number; cpl: number };
    kiosk: { doubleTapMs: number };
    announcer: { enabled: boolean; espeak: string; voice: string; speed: number; clips: string; mergeMs: number; gapMs: number };
    board: { calls: number; notice: string; hours: string };
    led: { host: string; port: number };
  };
  notices: NoticeSettings;
}

/** notices.* (hub/notices/): near-turn notices and satisfaction alerts. */
export interface NoticeSettings {
  adapter: 'none' | 'log' | 'webhook'; webhookUrl: string; webhookSecret: string; timeoutMs: number; aheadCount: number; quietHours: string;
  retryBaseMs: number; retryMaxMs: number; maxAttempts: number; staleMs: number; pollMs: number;
  alertLastN: number; alertThreshold: number; alertBadCount: number; alertBadMinutes: number; alertCooldownMinutes: number; alertTo: string;
}

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.map((p) => `settings: ${p}`).join('\n'));
    this.name = 'SettingsError';
  }
}

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  default?: unknown;
  description?: string;
  [key: string]: unknown;
}

export const SCHEMA_FILE = fileURLToPath(new URL('./settings.schema.json', import.meta.url));
let schemaCache: SchemaNode | undefined;
export function settingsSchema(): SchemaNode {
  schemaCache ??= JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as SchemaNode;
  return schemaCache;
}

/** mqtt.advertisedHost -> SANNUO_MQTT_ADVERTISED_HOST */
export function envName(key: string): string {
  return 'SANNUO_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase();
}

/** Every leaf key of the schema, dotted, with its node. */
export function settingKeys(node: SchemaNode = settingsSchema(), prefix = ''): [string, SchemaNode][] {
  const out: [string, SchemaNode][] = [];
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (child.type === 'object' && child.properties) out.push(...settingKeys(child, key));
    else out.push([key, child]);
  }
  return out;
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let at = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof at[part] !== 'object' || at[part] === null || Array.isArray(at[part])) at[part] = {};
    at = at[part] as Record<string, unknown>;
  }
  at[parts[parts.length - 1]] = value;
}

function describe(error: ErrorObject): string {
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'maximum': return `must be ≤ ${p.limit}`;
    case 'minimum': return `must be ≥ ${p.limit}`;
    case 'type': return `must be ${p.type === 'integer' ? 'an integer' : p.type === 'object' ? 'an object' : `a ${p.type}`}`;
    case 'enum': return `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'additionalProperties': return `unknown setting "${p.additionalProperty}"`;
    case 'pattern': return `must match ${p.pattern}`;
    case 'minLength': return `must have at least ${p.limit} characters`;
    default: return error.message ?? error.keyword;
  }
}

export interface LoadOptions {
  /** Settings file; falls back to env.SANNUO_CONFIG; none is fine. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Programmatic values (tests, CLI flags), applied last. Dotted keys. */
  overrides?: Record<string, unknown>;
}

export function loadSettings(options: LoadOptions = {}): Settings {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  const source = new Map<string, string>(); // dotted key -> where its value came from
  let raw: Record<string, unknown> = {};
  const file = options.file ?? env.SANNUO_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new SettingsError([`cannot read settings file ${file}: ${(error as Error).message}`]);
    }
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new SettingsError([`${file}: not JSON (${(error as Error).message})`]);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SettingsError([`${file}: expected a JSON object`]);
    for (const [key] of settingKeys()) source.set(key, file);
  }
  for (const [key, node] of settingKeys()) {
    const name = envName(key);
    const text = env[name];
    if (text === undefined || text === '') continue;
    let value: unknown = text;
    if (node.type === 'integer' || node.type === 'number') {
      value = /^-?\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : text;
    } else if (node.type === 'boolean') {
      value = text === 'true' || text === '1' ? true : text === 'false' || text === '0' ? false : text;
    } else if (node.type === 'array') {
      value = text.split(',').map((part) => part.trim()).filter((part) => part !== '');
    }
    setPath(raw, key, value);
    source.set(key, name);
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    setPath(raw, key, value);
    source.set(key, 'overrides');
  }
  const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: true, strictTypes: false });
  const validate = ajv.compile(settingsSchema());
  if (!validate(raw)) {
    for (const error of validate.errors ?? []) {
      let key = error.instancePath.slice(1).replace(/\//g, '.');
      if (error.keyword === 'additionalProperties') key = key ? `${key}.${(error.params as { additionalProperty: string }).additionalProperty}` : (error.params as { additionalProperty: string }).additionalProperty;
      const from = source.get(key) ?? file; // a key the schema does not know can only come from the file
      problems.push(`${key || '(root)'}: ${describe(error)}${from ? ` (from ${from})` : ''}`);
    }
    throw new SettingsError(problems);
  }
  const settings = raw as unknown as Settings;
  // Rules across keys, which the schema cannot say clearly.
  if (settings.platform.enabled && settings.platform.adapter === 'http' && !/^https?:\/\/[^/]/.test(settings.platform.http.endpoint)) {
    throw new SettingsError([`platform.http.endpoint: must be an http:// or https:// URL when platform.adapter is "http"${source.get('platform.http.endpoint') ? ` (from ${source.get('platform.http.endpoint')})` : ''}`]);
  }
  if (clustered(settings)) {
    const from = (key: string) => (source.get(key) ? ` (from ${source.get(key)})` : '');
    if (settings.db === 'sqlite') problems.push(`cluster.halls: a district needs db to be a postgres:// URL shared by its hubs, not sqlite${from('cluster.halls')}`);
    if (settings.broker === 'embedded') problems.push(`cluster.halls: a district needs broker to be the mqtt:// URL of the broker its hubs share, not embedded${from('cluster.halls')}`);
    if (settings.cluster.halls.includes('*') && settings.cluster.halls.length > 1) problems.push(`cluster.halls: "*" already means every hall; list it alone${from('cluster.halls')}`);
    if (settings.cluster.renewInterval * 2 > settings.cluster.leaseTtl) problems.push(`cluster.renewInterval: must be at most half of cluster.leaseTtl (${settings.cluster.leaseTtl} s), so one late renewal does not lose a hall${from('cluster.renewInterval')}`);
    if (problems.length) throw new SettingsError(problems);
  }
  return settings;
}

/** Whether this hub is one of several sharing halls through leases (a District: hub/district/district.ts, deploy/README.md). */
export function clustered(settings: Settings): boolean {
  return (settings.cluster?.halls.length ?? 0) > 0;
}

/** Absolute path of a file inside the data folder. */
export function dataPath(settings: Settings, name: string): string {
  return path.resolve(settings.data, name);
}

/** The broker port devices are told to use. */
export function advertisedPort(settings: Settings, actualMqttPort?: number): number {
  return settings.mqtt.advertisedPort || actualMqttPort || settings.mqtt.port;
}
