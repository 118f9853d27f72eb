/**
 * Device configuration, set at provisioning (and partly changed later by the hub's config
 * command). On the ESP32 it lives in the manifest's config section and in Preference; in the
 * simulator it comes from the scenario. Validation names the key and what is wrong. The settings
 * the hub may change remotely have one rule set, REMOTE_SETTINGS.
 */

import { ROLES, type Role } from './protocol.js';
import { fromHex } from './utf8.js';

/** What a pad does with a key press when no rating request is pending. */
export type UnsolicitedPolicy =
  /** Show "please rate when your service ends" and record nothing. */
  | 'ignore'
  /** Take the rating; the hub binds it to the ticket last served at this window, once. */
  | 'bind';
export const UNSOLICITED_POLICIES: readonly UnsolicitedPolicy[] = ['ignore', 'bind'];

export interface BrokerConfig {
  host: string;
  port: number;
  tls: boolean;
}

export interface DeviceConfig {
  /** Device id; from the MAC on ESP32, from provisioning elsewhere. */
  id: string;
  role: Role;
  site: string;
  win: string;
  /** Per-device secret, 64 hex digits (32 bytes), set at provisioning. */
  secret: string;
  broker: BrokerConfig;
  fw: string;
  /** GPIO of each key: five rating keys (5 → 1) on a pad; next, recall, no-show, transfer, pause on a display. */
  keyPins: number[];
  /** Milliseconds a rating request (or the reason menu) waits before going back to idle. */
  rateTimeout: number;
  unsolicited: UnsolicitedPolicy;
  /** 0–10 */
  volume: number;
  idleText: string;
  /** Outbox capacity in bytes of flash. */
  outboxBytes: number;
  /** Display role: where the transfer key can send a ticket, cycled by repeated presses. */
  transferTargets: { toWin: string | null; toItem: string | null; label: string }[];
  /** The hub's release key (ed25519 public key, 64 hex) that signs firmware images; null: no over-the-air updates. */
  releaseKey: string | null;
}

export const CONFIG_DEFAULTS: Omit<DeviceConfig, 'id' | 'role' | 'site' | 'win' | 'secret'> = {
  broker: { host: 'sannuo-hub.local', port: 1883, tls: false },
  fw: '0.1.0',
  keyPins: [4, 5, 6, 7, 15],
  rateTimeout: 30_000, // milliseconds
  unsolicited: 'ignore',
  volume: 6,
  idleText: '请对本次服务进行评价',
  outboxBytes: 64 * 1024, // bytes
  transferTargets: [],
  releaseKey: null,
};

/**
 * A Preference domain of this device's own (≤ 15 characters, Moddable's limit): `<base>-<8 hex>`
 * from an FNV-1a hash of the id. Where several devices run on one machine (lin) they would
 * otherwise share one domain, and the second would boot with the first's id and secret.
 */
export function deviceDomain(base: string, id: string): string {
  if (base.length > 6) throw new RangeError(`deviceDomain: base "${base}" is longer than 6 characters (the domain may be 15)`);
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${base}-${h.toString(16).padStart(8, '0')}`;
}

/** Every key of a DeviceConfig: what a board reads from its manifest section, so no setting is dropped on the way (transferTargets once was). */
export const DEVICE_CONFIG_KEYS: readonly (keyof DeviceConfig)[] = ['id', 'role', 'site', 'win', 'secret', ...(Object.keys(CONFIG_DEFAULTS) as (keyof DeviceConfig)[])];

const ID = /^[A-Za-z0-9_-]{1,32}$/;

/** The settings the hub may change remotely, with a config command (protocol.ts CommandBodies.config). */
export interface RemoteSettings {
  rateTimeout: number;
  unsolicited: UnsolicitedPolicy;
  volume: number;
  idleText: string;
}

/** One remote setting's rule: what it accepts and how a refusal reads. */
export interface RemoteRule {
  /** How a value typed as text (the CLI's key=value) is read before the check. */
  kind: 'integer' | 'text';
  check(value: unknown): boolean;
  /** The same rule as JSON Schema, for the hub's HTTP validation and its OpenAPI description; `check` stays the final word. */
  schema: { type: 'integer'; minimum: number; maximum: number } | { type: 'string'; enum?: readonly string[]; maxLength?: number };
  message: string;
  /** A refusal of a value typed as text, where it says more than `message`. */
  textMessage?: string;
}

const intIn = (v: unknown, min: number, max: number) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/**
 * The one rule set for remote settings: provisioning (parseDeviceConfig), the device applying a
 * config command (device.ts), the hub checking a push (hub/http/server.ts) and the CLI's
 * `config push` (cli/sannuo.ts) all read it.
 */
export const REMOTE_SETTINGS: { readonly [K in keyof RemoteSettings]: RemoteRule } = {
  rateTimeout: { kind: 'integer', check: (v) => intIn(v, 3000, 600_000), schema: { type: 'integer', minimum: 3000, maximum: 600_000 }, message: 'expected milliseconds between 3000 and 600000' },
  unsolicited: { kind: 'text', check: (v) => UNSOLICITED_POLICIES.indexOf(v as UnsolicitedPolicy) >= 0, schema: { type: 'string', enum: UNSOLICITED_POLICIES }, message: `expected one of ${UNSOLICITED_POLICIES.join(', ')}` },
  volume: { kind: 'integer', check: (v) => intIn(v, 0, 10), schema: { type: 'integer', minimum: 0, maximum: 10 }, message: 'expected 0–10', textMessage: 'expected an integer 0–10' },
  // maxLength counts code points, `check` UTF-16 units: the firmware's check is the stricter, and final.
  idleText: { kind: 'text', check: (v) => typeof v === 'string' && v.length <= 100, schema: { type: 'string', maxLength: 100 }, message: 'expected text of at most 100 characters' },
};

/** The remote settings' keys, in the config command's order. */
export const REMOTE_SETTING_KEYS = ['rateTimeout', 'unsolicited', 'volume', 'idleText'] as const;

/** undefined when `value` is a valid `key`, else what is wrong (without the key). */
export function checkRemoteSetting(key: keyof RemoteSettings, value: unknown): string | undefined {
  const rule = REMOTE_SETTINGS[key];
  return rule.check(value) ? undefined : rule.message;
}

/** A remote setting typed as text (key=value), read and checked: its value, or what is wrong. */
export function remoteSettingFromText(key: keyof RemoteSettings, text: string): { value: unknown } | { error: string } {
  const rule = REMOTE_SETTINGS[key];
  const value = rule.kind === 'integer' ? (/^-?[0-9]+$/.test(text) ? Number(text) : NaN) : text;
  return rule.check(value) ? { value } : { error: rule.textMessage ?? rule.message };
}


export interface ConfigError { key: string; message: string }

/** Merges defaults and validates; returns every problem, each naming its key. */
export function parseDeviceConfig(input: unknown): DeviceConfig | ConfigError[] {
  const problems: ConfigError[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return [{ key: '(root)', message: 'expected an object' }];
  const raw = input as Record<string, unknown>;
  const c = { ...CONFIG_DEFAULTS, ...raw, broker: { ...CONFIG_DEFAULTS.broker, ...(raw.broker as object) } } as Record<string, unknown>;
  const need = (key: string, ok: boolean, message: string) => { if (!ok) problems.push({ key, message }); };
  need('id', typeof c.id === 'string' && ID.test(c.id), 'expected 1–32 letters, digits, _ or -');
  need('role', ROLES.indexOf(c.role as Role) >= 0, `expected one of ${ROLES.join(', ')}`);
  need('site', typeof c.site === 'string' && ID.test(c.site), 'expected 1–32 letters, digits, _ or -');
  need('win', typeof c.win === 'string' && ID.test(c.win), 'expected 1–32 letters, digits, _ or -');
  need('secret', typeof c.secret === 'string' && c.secret.length === 64 && fromHex(c.secret) !== undefined, 'expected 64 lowercase hex digits');
  const b = c.broker as Record<string, unknown>;
  need('broker.host', typeof b.host === 'string' && b.host.length > 0, 'expected a host name or address');
  need('broker.port', Number.isInteger(b.port) && (b.port as number) > 0 && (b.port as number) < 65536, 'expected a port 1–65535');
  need('broker.tls', typeof b.tls === 'boolean', 'expected true or false');
  need('fw', typeof c.fw === 'string' && c.fw.length > 0 && c.fw.length <= 32, 'expected a version string');
  need('keyPins', Array.isArray(c.keyPins) && c.keyPins.length === 5 && c.keyPins.every((p) => Number.isInteger(p) && p >= 0 && p < 64), 'expected five GPIO numbers 0–63');
  for (const key of REMOTE_SETTING_KEYS) need(key, REMOTE_SETTINGS[key].check(c[key]), REMOTE_SETTINGS[key].message);
  need('outboxBytes', Number.isInteger(c.outboxBytes) && (c.outboxBytes as number) >= 4096, 'expected at least 4096 bytes');
  const targets = c.transferTargets;
  if (!Array.isArray(targets) || targets.length > 16) problems.push({ key: 'transferTargets', message: 'expected a list of at most 16 targets' });
  else targets.forEach((t: unknown, i: number) => {
    const target = t as Record<string, unknown>;
    const win = target && typeof target.toWin === 'string' && ID.test(target.toWin);
    const item = target && typeof target.toItem === 'string' && ID.test(target.toItem);
    need(`transferTargets[${i}]`, !!target && win !== item && (target.toWin === null || win) && (target.toItem === null || item)
      && typeof target.label === 'string' && target.label.length > 0 && target.label.length <= 20,
      'expected {toWin, toItem, label}: exactly one of toWin/toItem an id, the other null, and a label of 1–20 characters');
  });
  need('releaseKey', c.releaseKey === null || (typeof c.releaseKey === 'string' && /^[0-9a-f]{64}$/.test(c.releaseKey)), 'expected null or 64 lowercase hex digits (an ed25519 public key)');
  const known = ['id', 'role', 'site', 'win', 'secret', 'broker', ...Object.keys(CONFIG_DEFAULTS)];
  for (const key of Object.keys(raw)) if (known.indexOf(key) < 0) problems.push({ key, message: 'unknown setting' });
  for (const key of Object.keys(b)) if (['host', 'port', 'tls'].indexOf(key) < 0) problems.push({ key: `broker.${key}`, message: 'unknown setting' });
  return problems.length ? problems : (c as unknown as DeviceConfig);
}
