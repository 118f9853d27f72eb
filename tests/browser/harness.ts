/**
 * A hall for the browser tests: the real hub in-process (embedded Aedes, SQLite in a temp dir,
 * free ports) with the dashboard mounted, a small hall set up through the HTTP API, and
 * devices that are MQTT.js clients signing real events with firmware/core/protocol.ts.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Hub } from '../../hub/hub.js';
import { loadSettings } from '../../hub/settings.js';
import { silentLogger } from '../../hub/log.js';
import { TestDevice, waitFor } from '../hub/integration/device-client.js';
import { TEST_API_TOKEN } from '../support/token.js';

export { waitFor };

export interface Hall {
  hub: Hub;
  url: string;
  mqtt: string;
  data: string;
  api<T = any>(method: string, pathname: string, body?: unknown, token?: string): Promise<T>;
  device(role: 'pad' | 'display', win: string, id: string): Promise<TestDevice>;
  stop(): Promise<void>;
}

export async function startHall(env: Record<string, string> = {}, extraMount?: (app: FastifyInstance, hub: Hub) => void): Promise<Hall> {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-browser-'));
  // SANNUO_* variables are settings (hub/settings.schema.json): the first supervisor is admin.user / admin.password.
  const settings = loadSettings({ env, overrides: { data, 'mqtt.port': 0, 'http.port': 0, 'mqtt.host': '127.0.0.1', 'http.host': '127.0.0.1', 'api.token': TEST_API_TOKEN } });
  // eslint-disable-next-line prefer-const
  let hub: Hub;
  const mount = (app: FastifyInstance) => extraMount?.(app, hub);
  hub = new Hub(settings, silentLogger(), { mount });
  await hub.start();
  const url = `http://127.0.0.1:${hub.httpPort}`;
  const mqtt = `mqtt://127.0.0.1:${hub.mqttPort}`;
  const devices: TestDevice[] = [];
  const api = async (method: string, pathname: string, body?: unknown, token?: string) => {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(url + pathname, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${pathname}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  return {
    hub, url, mqtt, data, api,
    async device(role, win, id) {
      // Provisioning is the technician's: the hall's automation token, as an installer's tools would.
      const d = new TestDevice(await api('POST', '/api/devices', { role, win, id }, TEST_API_TOKEN));
      await d.connect(mqtt);
      await d.publishState(true);
      devices.push(d);
      return d;
    },
    async stop() {
      for (const d of devices) await d.close().catch(() => undefined);
      await hub.stop();
      fs.rmSync(data, { recursive: true, force: true });
    },
  };
}
