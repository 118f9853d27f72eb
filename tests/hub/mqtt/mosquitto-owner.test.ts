/**
 * Mosquitto must be able to read the passwd and acl the hub writes, in both deployments:
 * - compose: the hub's container (root) writes into a shared volume, Mosquitto's container reads
 *   it read-only as uid 1883, a user the hub's container does not know (SANNUO_MOSQUITTO_USER
 *   1883:1883). Before, the files stayed root's, mode 0640, and Mosquitto could not open them.
 * - a host: the hub runs as its own user in group mosquitto (install-service --mosquitto) and
 *   gives the files that group; Debian's Mosquitto reads them as user mosquitto.
 * Real Mosquitto, started under those users with setpriv, and a device logging in.
 */

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { lookupUser, mosquittoTexts, writeMosquittoTexts } from '../../../hub/mqtt/mosquitto.js';
import { MOSQUITTO, freePort } from '../../../support/mosquitto.js';

const ROOT = path.join(__dirname, '../../..');
const asRoot = process.getuid?.() === 0;
const texts = mosquittoTexts({ hub: { username: '$hub', password: 'hub-pw' }, site: 's1', devices: [{ id: 'pad-1', site: 's1', password: 'pad-pw' }], header: '# test' });

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-mqown-'));
  fs.chmodSync(dir, 0o755);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Mosquitto reading `filesDir`, run as `as` (setpriv arguments), until it answers or exits. */
async function broker(filesDir: string, as: string[]): Promise<{ ok: boolean; log(): string; stop(): Promise<void>; port: number }> {
  const port = await freePort();
  const conf = path.join(dir, `m-${port}.conf`);
  fs.writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${filesDir}/passwd`, `acl_file ${filesDir}/acl`, 'log_dest stderr', ''].join('\n'), { mode: 0o644 });
  const child = as.length ? spawn('setpriv', [...as, MOSQUITTO, '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => { log += d; });
  child.stderr!.on('data', (d) => { log += d; });
  let gone = false;
  // 'close': the process ended and its output is all read.
  const closed = new Promise<void>((resolve) => child.once('close', () => { gone = true; resolve(); }));
  // Polls the port until it answers or the broker is gone (no poll outlives the test).
  let ok = false;
  for (const deadline = Date.now() + 10_000; !gone && Date.now() < deadline;) {
    ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = async () => {
    if (!gone) child.kill('SIGKILL');
    await closed;
  };
  return { ok, log: () => log, port, stop };
}

async function login(port: number, username: string, password: string): Promise<string> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username, password, clientId: username, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    return await new Promise<string>((resolve) => {
      client.once('connect', () => resolve('connected'));
      client.once('error', (e) => resolve(`refused: ${e.message}`));
    });
  } finally {
    client.end(true);
  }
}

test('compose: files given to 1883:1883 (mode 0640) are read by Mosquitto running as 1883; root-owned ones are not', async () => {
  // What the hub's root container does in the shared volume.
  const files = path.join(dir, 'compose-auth');
  const uid = asRoot ? 1883 : process.getuid!();
  const gid = asRoot ? 1883 : process.getgid!();
  writeMosquittoTexts(texts, files, `${uid}:${gid}`);
  for (const f of ['passwd', 'acl']) {
    const st = fs.statSync(path.join(files, f));
    expect({ f, mode: st.mode & 0o777, uid: st.uid, gid: st.gid }).toEqual({ f, mode: 0o640, uid, gid });
  }
  // Mosquitto's container: its own uid and gid only, the folder not writable to it (a read-only mount).
  const as = asRoot ? ['--reuid=1883', '--regid=1883', '--clear-groups'] : [];
  const m = await broker(files, as);
  try {
    expect({ ok: m.ok, log: m.ok ? '' : m.log() }).toEqual({ ok: true, log: '' });
    expect(await login(m.port, 'pad-1', 'pad-pw')).toBe('connected');
    expect(await login(m.port, 'pad-1', 'wrong')).toMatch(/^refused/);
  } finally {
    await m.stop();
  }
  if (!asRoot) return;
  // The old behaviour, for contrast: owner root (the hub's container has no user "mosquitto").
  const before = path.join(dir, 'compose-root');
  writeMosquittoTexts(texts, before, 'no-such-user');
  expect(fs.statSync(path.join(before, 'passwd')).uid).toBe(0);
  const old = await broker(before, as);
  await old.stop();
  expect(old.ok).toBe(false);
  expect(old.log()).toMatch(/Unable to open pwfile|Error opening password file|Permission denied/i);
});

test('a host: the hub as its own user in group mosquitto gives the files that group; Mosquitto reads them', async () => {
  const mosq = lookupUser('mosquitto');
  expect(mosq).toBeDefined();
  const files = path.join(dir, 'host-auth');
  fs.mkdirSync(files, { mode: 0o750 });
  const hubUid = asRoot ? 65534 : process.getuid!();
  if (asRoot) fs.chownSync(files, hubUid, mosq!.gid);
  // The hub's process: not root, a member of mosquitto's group (SupplementaryGroups=mosquitto).
  const script = `import { mosquittoTexts, writeMosquittoTexts } from ${JSON.stringify(path.join(ROOT, 'hub/mqtt/mosquitto.ts'))};
writeMosquittoTexts(${JSON.stringify(texts)}, ${JSON.stringify(files)}, 'mosquitto');`;
  const hubAs = asRoot ? ['setpriv', `--reuid=${hubUid}`, `--regid=${hubUid}`, `--groups=${mosq!.gid}`] : [];
  const r = spawnSync(hubAs[0] ?? process.execPath, [...hubAs.slice(1), ...(hubAs.length ? [process.execPath] : []), '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, HOME: dir, TSX_TSCONFIG_PATH: path.join(ROOT, 'tsconfig.json') } });
  expect({ status: r.status, err: r.stderr }).toEqual({ status: 0, err: '' });
  const st = fs.statSync(path.join(files, 'passwd'));
  expect({ mode: st.mode & 0o777, uid: st.uid }).toEqual({ mode: 0o640, uid: hubUid });
  if (asRoot) expect(st.gid).toBe(mosq!.gid);
  // Debian's Mosquitto: started as root, reads its files as user mosquitto (its default).
  const m = await broker(files, asRoot ? [`--reuid=${mosq!.uid}`, `--regid=${mosq!.gid}`, '--clear-groups'] : []);
  try {
    expect({ ok: m.ok, log: m.ok ? '' : m.log() }).toEqual({ ok: true, log: '' });
    expect(await login(m.port, 'pad-1', 'pad-pw')).toBe('connected');
  } finally {
    await m.stop();
  }
});
