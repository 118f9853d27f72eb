/**
 * Over-the-air updates end to end: the real hub (embedded Aedes, SQLite, its HTTP server) stores
 * and signs images and runs the rollouts; simulated devices run the unchanged firmware core,
 * whose Updater downloads over real HTTP in chunks (through a proxy here, which can cut
 * connections mid-body), with their firmware slots in simulator/ota.ts.
 */

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { VirtualTime } from '../../simulator/virtual-time.js';
import { SimDevice } from '../../simulator/sim-device.js';
import { MemoryFlash } from '../../simulator/flash.js';
import { SimPartitions } from '../../simulator/ota.js';
import { ReleaseKey } from '../../hub/ota/release-key.js';
import { startHub, type HubFixture } from '../../support/hub.js';
import type { Rollout } from '../../hub/ota/rollout.js';

jest.setTimeout(60_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const IMAGE_BYTES = 10 * 1024 + 123; // bytes: three 4 KiB chunks and a short one

const time = new VirtualTime();
let hub: HubFixture;
let proxy: http.Server;
/** How many of the next image responses the proxy cuts half-way through their body. */
let cutNext = 0;
let cutAll = false;
const devices: SimDevice[] = [];
let image020: Buffer;

beforeAll(async () => {
  // The devices download through this proxy (settings ota.baseUrl), which forwards to the hub.
  proxy = http.createServer((req, res) => {
    const upstream = http.request(`${hub.http}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (cutAll || cutNext > 0) {
        cutNext = Math.max(0, cutNext - 1);
        answer.once('data', (chunk: Buffer) => {
          res.write(chunk.subarray(0, Math.floor(chunk.length / 2)));
          res.socket?.destroy(); // the Wi-Fi went mid-body
        });
        return;
      }
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  hub = await startHub({ 'log.level': 'silent', 'ota.baseUrl': proxyUrl, 'ota.maxImageMb': 1 }, undefined, { now: () => time.now() });
  image020 = randomBytes(IMAGE_BYTES);
  await upload('0.1.0', randomBytes(IMAGE_BYTES)); // what the devices run: rollbacks go back to it
  await upload('0.2.0', image020);
});

afterAll(async () => {
  for (const d of devices) d.shutdown();
  await hub?.stop();
  await new Promise((resolve) => proxy?.close(resolve));
});

afterEach(async () => {
  cutNext = 0;
  cutAll = false;
  // One rollout runs at a time: end whatever a test left paused.
  const { rollout } = await hub.api('GET', '/api/ota/rollouts/current');
  if (rollout) await hub.api('POST', `/api/ota/rollouts/${rollout.id}/rollback`, {});
});

async function upload(version: string, bytes: Buffer): Promise<{ sha256: string; sig: string; size: number }> {
  const res = await fetch(`${hub.http}/api/ota/images?version=${version}`, { method: 'POST', headers: { authorization: `Bearer ${hub.token}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array(bytes) });
  expect(res.status).toBe(201);
  return res.json();
}

async function simDevice(id: string, options: { capacity?: number; releaseKey?: string } = {}): Promise<SimDevice> {
  const config = await hub.provision('pad', `W${id.replace(/\D/g, '').slice(-3) || '1'}x${devices.length}`.slice(0, 32), id);
  const d = new SimDevice({
    config: options.releaseKey ? { ...config, releaseKey: options.releaseKey } : config, time, mqttUrl: hub.mqtt, flash: new MemoryFlash(), historyCap: 0,
    ota: { partitions: new SimPartitions(options.capacity), updater: { retryMs: 300, retries: 4 } },
  });
  devices.push(d);
  d.powerOn();
  return d;
}

/** Moves virtual time in small steps, letting the hub and HTTP answer in between, until `done`. */
async function until(done: () => boolean | Promise<boolean>, what: string, wallMs = 25_000): Promise<void> {
  const deadline = Date.now() + wallMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    time.advance(100);
    for (const d of devices) d.checkCrash();
    await sleep(5);
  }
}

const online = (ids: string[]) => async () => {
  const { devices: list } = await hub.api('GET', '/api/devices');
  const up = new Set(list.filter((d: { health: { online: boolean } }) => d.health.online).map((d: { id: string }) => d.id));
  return ids.every((id) => up.has(id));
};

async function current(): Promise<Rollout | null> {
  return (await hub.api('GET', '/api/ota/rollouts/current')).rollout;
}

async function otaRows(): Promise<{ action: string; by: string; dev?: string; version: string }[]> {
  const rows = await hub.hub.db.all<{ body: string }>(`SELECT body FROM ledger WHERE kind = 'ota' ORDER BY "row"`);
  return rows.map((r) => JSON.parse(r.body));
}

test('an update is downloaded in chunks, verified, switched to and booted; the hub sees its progress and the ledger its steps', async () => {
  const d = await simDevice('pad-ota1');
  await until(online([d.id]), 'the device online');
  const progress: string[] = [];
  hub.hub.halls()[0].bus.on('deviceState', 'test', ({ dev, upd }) => { if (dev === d.id && upd) progress.push(`${upd.phase}:${upd.got}`); });
  const started: Rollout = await hub.api('POST', '/api/ota/rollouts', { version: '0.2.0', devices: [d.id], canary: 1 });
  expect(started).toMatchObject({ version: '0.2.0', status: 'canary', targets: [{ dev: d.id, wave: 0, from: '0.1.0', status: 'offered' }] });
  await until(() => d.fw === '0.2.0' && d.counters.restarts === 1 && d.powered && d.link === 'up', 'the device to restart into 0.2.0');
  hub.hub.halls()[0].bus.off('test');
  expect(d.otaRequests).toEqual({ requests: 3, failures: 0 }); // ceil(10363 / 4096) Range requests
  expect(d.counters.restarts).toBe(1);
  expect(progress[0]).toBe('downloading:0');
  expect(progress).toContain('verifying:' + IMAGE_BYTES);
  expect(progress).toContain('switching:' + IMAGE_BYTES);
  await until(async () => (await current()) === null, 'the rollout to end');
  const ended: Rollout = await hub.api('GET', `/api/ota/rollouts/${started.id}`);
  expect(ended).toMatchObject({ status: 'done', targets: [{ dev: d.id, status: 'done' }] });
  // The new image's boot event is in the ledger: what it runs and why it booted.
  const boots = await hub.hub.db.all<{ body: string }>(`SELECT body FROM ledger WHERE kind = 'event' AND dev = $1`, [d.id]);
  expect(boots.map((b) => JSON.parse(b.body)).filter((e) => e.type === 'boot').map((e) => e.body)).toEqual([{ fw: '0.1.0', reason: 'power-on' }, { fw: '0.2.0', reason: 'update' }]);
  const rows = await otaRows();
  expect(rows.filter((r) => r.action === 'upload').map((r) => `${r.version} ${r.by}`)).toEqual(['0.1.0 api-startup', '0.2.0 api-startup']);
  expect(rows.filter((r) => (r as { rollout?: string }).rollout === started.id).map((r) => `${r.action} ${r.by}`)).toEqual(['rollout api-startup', 'advance $hub', 'done $hub']);
});

test('an interrupted download resumes where it stopped; one that keeps failing leaves the old image running', async () => {
  const d = await simDevice('pad-ota2');
  await until(online([d.id]), 'the device online');
  cutNext = 2; // two responses cut mid-body: the device asks for the same range again
  await hub.api('POST', '/api/ota/rollouts', { version: '0.2.0', devices: [d.id], canary: 1 });
  await until(() => d.fw === '0.2.0' && d.powered, 'the device to run 0.2.0 after two cut downloads');
  expect(d.otaRequests).toEqual({ requests: 5, failures: 2 });
  await until(async () => (await current()) === null, 'the rollout to end');

  const e = await simDevice('pad-ota3');
  await until(online([e.id]), 'the second device online');
  cutAll = true;
  const r: Rollout = await hub.api('POST', '/api/ota/rollouts', { version: '0.2.0', devices: [e.id], canary: 1 });
  await until(async () => (await current())?.status === 'paused', 'the rollout to pause');
  const paused = (await current())!;
  expect(paused.reason).toMatch(new RegExp(`^${e.id} failed: download: .*after 4 retries`));
  expect(paused.targets[0]).toMatchObject({ status: 'failed' });
  expect(e.fw).toBe('0.1.0');
  expect(e.options.ota!.partitions.counters).toMatchObject({ begins: 1, cancels: 1, completes: 0 });
  expect(e.otaRequests.failures).toBe(5);
  expect(r.id).toBe(paused.id);
});

test('a bad signature is refused before a byte is downloaded; a wrong hash after, and neither switches', async () => {
  // A device provisioned under another hub's release key: this hub's signature does not verify.
  const other = new ReleaseKey(randomBytes(32)).publicHex;
  const d = await simDevice('pad-ota4', { releaseKey: other });
  await until(online([d.id]), 'the device online');
  await hub.api('POST', '/api/ota/rollouts', { version: '0.2.0', devices: [d.id], canary: 1 });
  await until(async () => (await current())?.status === 'paused', 'the rollout to pause on the bad signature');
  expect((await current())!.reason).toBe(`${d.id} failed: signature: the image is not signed by this device's release key`);
  expect(d.otaRequests.requests).toBe(0);
  expect(d.fw).toBe('0.1.0');
  await hub.api('POST', `/api/ota/rollouts/${(await current())!.id}/rollback`, {});

  // The stored file changed after it was signed (a disk fault, or someone with the disk).
  const tampered = Buffer.from(image020);
  await upload('0.3.0', tampered);
  tampered[5000] ^= 0xff;
  fs.writeFileSync(path.join(hub.data, 'ota', '0.3.0.bin'), tampered);
  const e = await simDevice('pad-ota5');
  await until(online([e.id]), 'the second device online');
  await hub.api('POST', '/api/ota/rollouts', { version: '0.3.0', devices: [e.id], canary: 1 });
  await until(async () => (await current())?.status === 'paused', 'the rollout to pause on the wrong hash');
  expect((await current())!.reason).toMatch(new RegExp(`^${e.id} failed: hash: the image's SHA-256 is [0-9a-f]{64}, the offer says`));
  expect(e.otaRequests.requests).toBe(3);
  expect(e.options.ota!.partitions.counters).toMatchObject({ completes: 0, cancels: 1 });
  expect(e.fw).toBe('0.1.0');
  expect(e.powered && e.counters.restarts === 0).toBe(true);
});

test('a power cut mid-update boots the old image; the hub offers the update again and it completes', async () => {
  const d = await simDevice('pad-ota6');
  await until(online([d.id]), 'the device online');
  await hub.api('POST', '/api/ota/rollouts', { version: '0.2.0', devices: [d.id], canary: 1 });
  await until(() => (d.device.updater?.progress()?.got ?? 0) > 0, 'the first chunk written');
  expect(d.device.updater!.progress()!.got).toBeLessThan(IMAGE_BYTES);
  d.powerCut(3_000);
  expect(d.options.ota!.partitions.counters.powerLosses).toBe(1);
  await until(() => d.powered, 'the device to boot again');
  expect(d.fw).toBe('0.1.0'); // the half-written slot never became the boot slot
  await until(() => d.fw === '0.2.0' && d.powered, 'the re-offered update to complete');
  expect(d.options.ota!.partitions.counters).toMatchObject({ begins: 2, completes: 1 });
  await until(async () => (await current()) === null, 'the rollout to end');
});

test('a staged rollout across 50 devices: the canary wave, then batches; one failing device pauses it; rollback restores the rest', async () => {
  const ids = Array.from({ length: 50 }, (_, i) => `pad-fleet-${String(i).padStart(2, '0')}`);
  const fleet: SimDevice[] = [];
  // pad-fleet-20's partition is too small for the image: it fails every update.
  for (const id of ids) fleet.push(await simDevice(id, id === 'pad-fleet-20' ? { capacity: 4096 } : {}));
  await until(online(ids), 'fifty devices online', 40_000);
  const started: Rollout = await hub.api('POST', '/api/ota/rollouts', { version: '0.2.0', devices: ids, canaryDevices: ['pad-fleet-00', 'pad-fleet-01', 'pad-fleet-02'], batch: 5 });
  expect(started.targets.filter((t) => t.status === 'offered').map((t) => t.dev)).toEqual(['pad-fleet-00', 'pad-fleet-01', 'pad-fleet-02']);
  await until(async () => (await current())?.status === 'paused', 'the failing device to pause the rollout', 40_000);
  const paused = (await current())!;
  expect(paused.reason).toBe('pad-fleet-20 failed: flash: image of 10363 bytes does not fit the 4096-byte partition');
  // Let the devices already offered finish; nothing new is offered while paused.
  await until(async () => (await current())!.targets.every((t) => t.status !== 'offered' && t.status !== 'downloading'), 'the batch in flight to settle');
  const settled = (await current())!;
  const done = settled.targets.filter((t) => t.status === 'done').map((t) => t.dev);
  const waiting = settled.targets.filter((t) => t.status === 'waiting').map((t) => t.dev);
  expect(done).toEqual(expect.arrayContaining(['pad-fleet-00', 'pad-fleet-01', 'pad-fleet-02']));
  expect(done.length).toBeGreaterThanOrEqual(3 + 17); // the canaries, then every batch up to the failing device
  expect(waiting.length).toBeGreaterThan(20); // never offered: the rollout paused before them
  expect(await hub.metric('sannuo_ota_rollout_devices', { status: 'waiting' })).toBe(waiting.length);
  expect(await hub.metric('sannuo_ota_rollout_devices', { status: 'failed' })).toBe(1);
  for (const d of fleet) expect(d.fw).toBe(done.indexOf(d.id) >= 0 ? '0.2.0' : '0.1.0');

  const back: Rollout = await hub.api('POST', `/api/ota/rollouts/${paused.id}/rollback`, {});
  expect(back.status).toBe('rollback');
  await until(async () => (await current()) === null, 'the rollback to finish', 40_000);
  for (const d of fleet) expect(d.fw).toBe('0.1.0');
  const final: Rollout = await hub.api('GET', `/api/ota/rollouts/${paused.id}`);
  expect(final.status).toBe('rolledback');
  expect(final.targets.filter((t) => t.status === 'reverted').length).toBe(done.length + 1); // and the failed one, which never left 0.1.0
  const rows = (await otaRows()).filter((r) => (r as { rollout?: string }).rollout === paused.id);
  expect(rows.map((r) => `${r.action} ${r.by}`)).toEqual(['rollout api-startup', 'advance $hub', 'device-failed $hub', 'rollback api-startup', 'rolledback $hub']);
}, 120_000);

test('bad requests are refused with the field named and change nothing; an image may be larger than a JSON body, up to ota.maxImageMb', async () => {
  const before = (await otaRows()).length;
  const bad = async (method: string, url: string, body: unknown, field: string, status = 400) => {
    const res = await hub.call(method, url, body);
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ field });
  };
  await bad('POST', '/api/ota/rollouts', { version: '9.9.9' }, 'version', 404);
  await bad('POST', '/api/ota/rollouts', { version: '0.2.0', devices: ['nope'] }, 'devices');
  await bad('POST', '/api/ota/rollouts', { version: '0.2.0', canary: 0 }, 'canary');
  await bad('POST', '/api/ota/rollouts', { version: '0.2.0', extra: 1 }, 'extra');
  await bad('POST', '/api/ota/rollouts/nope/pause', {}, 'params.id', 404);
  const dup = await fetch(`${hub.http}/api/ota/images?version=0.2.0`, { method: 'POST', headers: { authorization: `Bearer ${hub.token}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array([120]) });
  expect(dup.status).toBe(409);
  expect(await dup.json()).toMatchObject({ error: 'conflict', field: 'version' });
  // Images are larger than the API's 64 KiB JSON bodies: up to ota.maxImageMb (1 here).
  const big = await fetch(`${hub.http}/api/ota/images?version=0.9.0`, { method: 'POST', headers: { authorization: `Bearer ${hub.token}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array(1024 * 1024) });
  expect(big.status).toBe(201);
  const tooBig = await fetch(`${hub.http}/api/ota/images?version=0.9.1`, { method: 'POST', headers: { authorization: `Bearer ${hub.token}`, 'content-type': 'application/octet-stream' }, body: new Uint8Array(1024 * 1024 + 1) });
  expect(tooBig.status).toBe(400);
  expect(await tooBig.json()).toMatchObject({ field: 'body', message: 'body: the image is 1048577 bytes, at most 1048576 (ota.maxImageMb)' });
  const range = await fetch(`${hub.http}/ota/images/0.2.0.bin`, { headers: { range: 'bytes=99999-' } });
  expect(range.status).toBe(416);
  const anonymous = await hub.call('POST', '/api/ota/rollouts', { version: '0.2.0' }, null);
  expect(anonymous.status).toBe(401);
  expect((await otaRows()).length).toBe(before + 1); // the 1 MiB upload, nothing else
  expect((await hub.api('GET', '/api/ota/images')).images.map((i: { version: string }) => i.version)).not.toContain('0.9.1');
});
