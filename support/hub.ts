/**
 * The one in-process hub launcher of the tests: the real hub (embedded Aedes, SQLite in its own
 * temp data dir) on free ports, with the test API token (role supervisor), and fake devices
 * (support/device.ts) provisioned and connected to it. A hub in its own process is
 * support/hub-process.ts.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Hub, type HubOptions } from '../hub/hub.js';
import { loadSettings } from '../hub/settings.js';
import { silentLogger, type Logger } from '../hub/log.js';
import type { DeviceConfig } from '../firmware/core/config.js';
import type { Role } from '../firmware/core/protocol.js';
import { TEST_API_TOKEN } from './token.js';
import { FakeDevice } from './device.js';

export interface HubFixture {
  hub: Hub;
  data: string;
  /** http://127.0.0.1:<port> */
  http: string;
  /** mqtt://127.0.0.1:<port>, the embedded broker. */
  mqtt: string;
  /** The hub's start-up API token (role supervisor). */
  token: string;
  provision(role: Role, win: string, id: string): Promise<DeviceConfig>;
  /** Provisions a device and connects it; stop() closes it. */
  device(role: Role, win: string, id: string): Promise<FakeDevice>;
  /** A call with the hub's start-up API token (role supervisor), or with `token` (null: none). */
  api<T = any>(method: string, pathname: string, body?: unknown, token?: string | null): Promise<T>;
  /** The raw response, for status checks: token as for api(). */
  call(method: string, pathname: string, body?: unknown, token?: string | null): Promise<Response>;
  eventRows(dev?: string): Promise<number>;
  ledgerKinds(): Promise<Record<string, number>>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** Closes the devices of device(), stops the hub, removes the data dir. */
  stop(): Promise<void>;
}

export interface StartOptions extends HubOptions {
  /** SANNUO_* variables the settings are read from (default none: only the overrides). */
  env?: Record<string, string>;
  /** The hub's logger (default: silent). */
  log?: Logger;
}

/** Starts a hub with `overrides` (settings keys, e.g. 'queue.callTimeout') over the test defaults. */
export async function startHub(overrides: Record<string, unknown> = {}, data = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-hub-')), options: StartOptions = {}): Promise<HubFixture> {
  const { env = {}, log = silentLogger(), ...hubOptions } = options;
  const settings = loadSettings({
    env,
    // The intake thread logs on its own (stdout) at log.level: quiet unless the test reads the hub's log.
    overrides: { data, 'mqtt.port': 0, 'http.port': 0, 'mqtt.host': '127.0.0.1', 'http.host': '127.0.0.1', 'api.token': TEST_API_TOKEN, 'log.level': options.log ? 'info' : 'error', 'discovery.mdns': false, ...overrides },
  });
  const hub = new Hub(settings, log, hubOptions);
  await hub.start();
  const http = `http://127.0.0.1:${hub.httpPort}`;
  const mqtt = `mqtt://127.0.0.1:${hub.mqttPort}`;
  const call = (method: string, pathname: string, body?: unknown, token: string | null = TEST_API_TOKEN) => {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    return fetch(http + pathname, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  const api = async (method: string, pathname: string, body?: unknown, token?: string | null) => {
    const res = await call(method, pathname, body, token);
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${pathname}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  const provision = (role: Role, win: string, id: string): Promise<DeviceConfig> => api('POST', '/api/devices', { role, win, id });
  const devices: FakeDevice[] = [];
  return {
    hub, data, http, mqtt, token: TEST_API_TOKEN, api, call, provision,
    device: async (role, win, id) => {
      const d = new FakeDevice(await provision(role, win, id));
      await d.connect(mqtt);
      devices.push(d);
      return d;
    },
    eventRows: async (dev) => Number((await hub.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ledger WHERE kind = 'event'${dev ? ' AND dev = $1' : ''}`, dev ? [dev] : []))!.n),
    ledgerKinds: async () => Object.fromEntries((await hub.db.all<{ kind: string; n: number }>('SELECT kind, COUNT(*) AS n FROM ledger GROUP BY kind')).map((r) => [r.kind, Number(r.n)])),
    metric: (name, labels) => hub.metrics.value(name, labels),
    stop: async () => {
      for (const d of devices.splice(0)) await d.close().catch(() => undefined);
      await hub.stop();
      fs.rmSync(data, { recursive: true, force: true });
    },
  };
}

/** A hall with one department, one item, window W1 with staff s1 signed in, and `tickets` issued. */
export async function setUpHall(api: HubFixture['api'], tickets: number, win = 'W1'): Promise<string[]> {
  await api('PUT', '/api/queue/departments/D1', { name: '市场监管' });
  await api('PUT', '/api/queue/items/I1', { name: '营业执照', department: 'D1', prefix: 'A', limitDays: 0 });
  await api('PUT', `/api/queue/windows/${win}`, { name: '一号窗口', items: ['I1'] });
  await api('PUT', '/api/queue/staff/s1', { name: '张三', department: 'D1' });
  await api('POST', `/api/queue/windows/${win}/sign-in`, { staff: 's1' });
  const numbers: string[] = [];
  for (let i = 0; i < tickets; i++) numbers.push((await api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' })).number);
  return numbers;
}

/**
 * For test files that start a hub per test: `start` starts this test's hub, `device` provisions
 * a device on it and connects it to its embedded broker. After each test (an afterEach this
 * registers) the devices are closed and the hub stopped.
 */
export function hubPerTest(): {
  start(overrides?: Record<string, unknown>): Promise<HubFixture>;
  device(role: Role, win: string, id: string): Promise<FakeDevice>;
} {
  let current: HubFixture | undefined;
  afterEach(async () => {
    await current?.stop();
    current = undefined;
  });
  return {
    start: async (overrides) => (current = await startHub(overrides)),
    device: async (role, win, id) => {
      if (!current) throw new Error('hubPerTest: start() the hub before connecting devices');
      return current.device(role, win, id);
    },
  };
}
