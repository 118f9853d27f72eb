/**
 * sannuo backup / restore / verify --offline, run as a technician runs them (the real CLI in
 * its own process) against a real hub (embedded broker, SQLite) with devices sending events:
 * a backup taken under load holds every event acked before it began, verifies on its own, a
 * damaged one is refused before anything is replaced, and the restored hub starts and verifies.
 */

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { startHub, type HubFixture } from '../../support/hub.js';
import { FakeDevice, healthBody, waitFor } from '../../support/device.js';
import { loadSettings } from '../../hub/settings.js';
import { restoreBackup, verifyBackup } from '../../hub/ops/backup.js';

const ROOT = path.join(__dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'sannuo.js');
const Database = createRequire(__filename)('better-sqlite3') as new (file: string, options?: { readonly?: boolean }) => {
  prepare(sql: string): { all(...params: unknown[]): any[]; run(...params: unknown[]): unknown };
  close(): void;
};

/** The real CLI, asynchronously: the hub under test runs in this process and must keep serving. */
async function sannuo(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string; ms: number }> {
  const started = Date.now();
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SANNUO_')));
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...clean, ...env }, timeout: 60_000 });
    return { code: 0, out: r.stdout, err: r.stderr, ms: Date.now() - started };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: e.stdout ?? '', err: e.stderr ?? '', ms: Date.now() - started };
  }
}

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function eventKeys(dbFile: string): Set<string> {
  const db = new Database(dbFile, { readonly: true });
  try {
    return new Set(db.prepare("SELECT dev, boot, seq FROM ledger WHERE kind = 'event'").all().map((r) => `${r.dev}:${r.boot}:${r.seq}`));
  } finally {
    db.close();
  }
}

let tmp: string;
let data: string;
let fixture: HubFixture;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-backup-'));
  data = path.join(tmp, 'data');
});
afterAll(async () => {
  await fixture?.hub.stop().catch(() => undefined);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('a backup under load holds every acked event; restore checks it first, replaces, and the hub runs on it', async () => {
  fixture = await startHub({}, data);
  const port = String(fixture.hub.httpPort);
  const devices: FakeDevice[] = [];
  for (let i = 1; i <= 4; i++) devices.push(await fixture.device('pad', `W${i}`, `pad-${i}`));
  const acked = new Set<string>();
  for (const d of devices) d.onAck = (item) => { if (item.verdict === 'committed') acked.add(`${d.id}:${item.boot}:${item.seq}`); };

  // Load: every device sends a state event every few ms until told to stop.
  let loading = true;
  let sent = 0;
  const load = Promise.all(devices.map(async (d) => {
    let up = 0;
    while (loading) {
      await d.send('state', healthBody(++up));
      sent++;
      await new Promise((r) => setTimeout(r, 3));
    }
  }));
  await waitFor('load under way', () => acked.size >= 200);

  const backup = path.join(tmp, 'backup');
  const before = new Set(acked); // acked before the backup began: the backup must hold them all
  const taken = await sannuo(['backup', '--data', data, '--out', backup]);
  const ackedDuring = acked.size - before.size;
  expect(taken.err).toBe('');
  expect(taken.code).toBe(0);
  expect(taken.out).toMatch(/backup written to .*\(sqlite, \d+ ms\):\n {2}hall \S+: \d+ rows, chain and checkpoint \(row \d+\) verified/);
  expect(ackedDuring).toBeGreaterThan(0); // the hub kept committing while the backup ran
  await new Promise((r) => setTimeout(r, 300));
  loading = false;
  await load;
  await waitFor('every event acked', () => devices.every((d) => d.unacked.size === 0));

  // The backup folder: owner-only, a manifest naming every file's hash, the key and checkpoint.
  expect(fs.statSync(backup).mode & 0o777).toBe(0o700);
  const manifest = JSON.parse(fs.readFileSync(path.join(backup, 'manifest.json'), 'utf8'));
  expect(Object.keys(manifest.files).sort()).toEqual(['admin-password.txt', 'checkpoint.json', 'hub.key', 'sannuo.db'].filter((f) => fs.existsSync(path.join(backup, f))).sort());
  expect(manifest.files['hub.key']).toBe(sha(path.join(data, 'hub.key')));
  for (const f of Object.keys(manifest.files)) expect(fs.statSync(path.join(backup, f)).mode & 0o777).toBe(0o600);
  expect(fs.existsSync(path.join(backup, 'sannuo.db-wal'))).toBe(false); // one self-contained file

  // Nothing acked before the backup began is missing from it.
  const inBackup = eventKeys(path.join(backup, 'sannuo.db'));
  const missing = [...before].filter((k) => !inBackup.has(k));
  expect(missing).toEqual([]);

  // A running hub's files are never replaced. (The checks that need no process of their own
  // call the CLI's functions here, to keep the file fast.)
  const settings = loadSettings({ env: {}, overrides: { data, 'http.port': Number(port), 'http.host': '127.0.0.1' } });
  await expect(restoreBackup(settings, backup)).rejects.toThrow(new RegExp(`a hub answers on port ${port}: stop it first .*nothing was replaced`));

  for (const d of devices) await d.close();
  await fixture.hub.stop();
  const liveEvents = eventKeys(path.join(data, 'sannuo.db'));
  expect(liveEvents.size).toBeGreaterThan(inBackup.size);

  // verify --offline on the stopped hub's own files, and on the backup.
  const offlineData = await sannuo(['verify', '--offline', data]);
  expect(offlineData.code).toBe(0);
  expect(offlineData.out).toMatch(/ledger ok \(offline\):\n {2}hall \S+: \d+ rows, chain and checkpoint/);
  const offlineBackup = await verifyBackup(backup);
  expect(offlineBackup.verified.map((v) => v.report)).toMatchObject([{ ok: true, rows: manifest.halls[0].rows }]);

  // A damaged backup (rows the checkpoint covers removed, manifest made to match) is refused
  // by its chain check, and the data folder is left exactly as it was.
  const damaged = path.join(tmp, 'damaged');
  fs.cpSync(backup, damaged, { recursive: true });
  const cpRow = manifest.halls[0].checkpointRow as number;
  expect(cpRow).toBeGreaterThan(10);
  const db = new Database(path.join(damaged, 'sannuo.db'));
  db.prepare('DELETE FROM ledger WHERE "row" > ?').run(cpRow - 5);
  db.close();
  const m2 = JSON.parse(fs.readFileSync(path.join(damaged, 'manifest.json'), 'utf8'));
  m2.files['sannuo.db'] = sha(path.join(damaged, 'sannuo.db'));
  fs.writeFileSync(path.join(damaged, 'manifest.json'), JSON.stringify(m2));
  const dataBefore = sha(path.join(data, 'sannuo.db'));
  await expect(restoreBackup(settings, damaged)).rejects.toThrow(/the backup does not verify, nothing was replaced: hall \S+: rows \d+\.\.\d+ are missing at the end/);
  expect(sha(path.join(data, 'sannuo.db'))).toBe(dataBefore);
  expect(fs.readdirSync(data).some((n) => n.startsWith('pre-restore-'))).toBe(false);
  // A file changed after the backup is named by its hash.
  fs.appendFileSync(path.join(damaged, 'hub.key'), ' ');
  await expect(verifyBackup(damaged)).rejects.toThrow(/hub\.key does not match its SHA-256 in the manifest/);

  // The real restore: checked, old files moved aside (nothing deleted), the backup in place.
  const restored = await sannuo(['restore', backup, '--data', data], { SANNUO_HTTP_PORT: port });
  expect(restored.err).toBe('');
  expect(restored.code).toBe(0);
  const aside = fs.readdirSync(data).find((n) => n.startsWith('pre-restore-'))!;
  expect(aside).toBeDefined();
  expect(fs.readdirSync(path.join(data, aside))).toEqual(expect.arrayContaining(['sannuo.db', 'hub.key', 'checkpoint.json']));
  expect(eventKeys(path.join(data, aside, 'sannuo.db')).size).toBe(liveEvents.size);
  const afterRestore = eventKeys(path.join(data, 'sannuo.db'));
  expect(afterRestore).toEqual(inBackup);

  // The hub starts on the restored files (the key opens its devices' secrets) and its chain verifies.
  fixture = await startHub({}, data);
  const report = await fixture.api('GET', '/api/ledger/verify');
  expect(report).toMatchObject({ ok: true });
  expect(report.rows).toBeGreaterThanOrEqual(manifest.halls[0].rows);
  expect(await fixture.eventRows()).toBe(inBackup.size);
  await fixture.hub.stop();
  process.stdout.write(`backup under load: ${sent} events sent, ${before.size} acked before the backup, ${ackedDuring} acked while it ran (CLI ${taken.ms} ms, process start included), ${inBackup.size} in the backup\n`);
}, 60_000);
