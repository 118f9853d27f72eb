/** `sannuo ota`, the real CLI in its own process against a real hub: upload, rollout, status, pause, rollback. */

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHub, type HubFixture } from '../../support/hub.js';

jest.setTimeout(60_000);

const ROOT = path.join(__dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'sannuo.js');
let f: HubFixture;
let token: string;
let dir: string;

/** Async, so the in-process hub keeps answering while the CLI runs. */
function sannuo(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args, '--hub', f.http, '--token', token], { cwd: ROOT });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { err += c; });
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

beforeAll(async () => {
  f = await startHub();
  token = (await f.api('POST', '/api/tokens', { name: 'cli-tech', role: 'technician' })).token;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-ota-cli-'));
  for (const id of ['pad-c1', 'pad-c2', 'pad-c3']) await f.provision('pad', id.toUpperCase(), id);
});
afterAll(async () => {
  await f?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a technician uploads an image, starts a rollout, reads it, pauses and rolls it back; the ledger names the token', async () => {
  const file = path.join(dir, 'fw.bin');
  fs.writeFileSync(file, Buffer.alloc(5000, 7));
  const up = await sannuo('ota', 'upload', file, '0.2.0', '--note', '修复字体');
  expect(up.err).toBe('');
  expect(up.out).toMatch(/^stored 0\.2\.0: 5000 bytes, SHA-256 [0-9a-f]{64}, signed by the hub's release key\n$/);

  const started = await sannuo('ota', 'rollout', '0.2.0', '--canary', '1', '--json');
  expect(started.code).toBe(0);
  const r = JSON.parse(started.out);
  expect(r).toMatchObject({ version: '0.2.0', status: 'canary', batch: 10 });
  expect(r.targets.map((t: { dev: string; wave: number }) => `${t.dev}:${t.wave}`)).toEqual(['pad-c1:0', 'pad-c2:1', 'pad-c3:1']);

  const status = await sannuo('ota', 'status');
  expect(status.out).toMatch(new RegExp(`^rollout ${r.id}: 0\\.2\\.0 canary; by api-[0-9a-f]+; 3 devices: 3 waiting\n$`));
  const paused = await sannuo('ota', 'pause', r.id);
  expect(paused.out).toContain(`rollout ${r.id}: 0.2.0 paused (paused by a technician)`);
  const back = await sannuo('ota', 'rollback', r.id);
  expect(back.out).toContain(`rollout ${r.id}: 0.2.0 rolledback`);
  expect((await f.api('GET', '/api/ota/rollouts/current')).rollout).toBeNull();

  const rows = (await f.hub.db.all<{ body: string }>(`SELECT body FROM ledger WHERE kind = 'ota' ORDER BY "row"`)).map((x) => JSON.parse(x.body));
  expect(rows.map((b) => `${b.action} ${b.byName} ${b.byRole}`)).toEqual(['upload API token: cli-tech technician', 'rollout API token: cli-tech technician', 'pause API token: cli-tech technician', 'rollback API token: cli-tech technician', 'rolledback hub hub']);
});
