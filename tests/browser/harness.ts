/**
 * A hall for the browser tests: the real hub in-process (embedded Aedes, SQLite in a temp dir,
 * free ports) with the dashboard mounted, a small hall set up through the HTTP API, and
 * devices that are MQTT.js clients signing real events with firmware/core/protocol.ts
 * (support/hub.ts and support/device.ts).
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Hub } from '../../hub/hub.js';
import { startHub } from '../../support/hub.js';
import { FakeDevice, waitFor } from '../../support/device.js';

export { waitFor };

export interface Hall {
  hub: Hub;
  url: string;
  mqtt: string;
  data: string;
  api<T = any>(method: string, pathname: string, body?: unknown, token?: string): Promise<T>;
  device(role: 'pad' | 'display', win: string, id: string): Promise<FakeDevice>;
  stop(): Promise<void>;
}

export async function startHall(env: Record<string, string> = {}, extraMount?: (app: FastifyInstance, hub: Hub) => void): Promise<Hall> {
  // SANNUO_* variables are settings (hub/settings.schema.json): the first supervisor is admin.user / admin.password.
  let hub: Hub | undefined;
  const f = await startHub({}, fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-browser-')), { env, mount: (app) => extraMount?.(app, hub!) });
  hub = f.hub;
  return {
    hub, url: f.http, mqtt: f.mqtt, data: f.data,
    // The page's own calls: no credential unless the test gives one.
    api: (method, pathname, body, token) => f.api(method, pathname, body, token ?? null),
    async device(role, win, id) {
      // Provisioning is the technician's: the hall's automation token, as an installer's tools would (startHub's device()).
      const d = await f.device(role, win, id);
      await d.publishState(true);
      return d;
    },
    stop: () => f.stop(),
  };
}
