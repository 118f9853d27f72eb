/**
 * Roles on the hub's HTTP API against a real in-process hub (embedded Aedes, SQLite file):
 * without a credential 401, with a role not allowed 403, and in both cases nothing in the
 * database changes; API tokens (start-up, created, revoked); and the remote config push,
 * received by a device running the real firmware core (simulator/sim-device.ts).
 */

import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { startHub, setUpHall, type HubFixture } from '../../../support/hub.js';
import { TEST_API_TOKEN } from '../../../support/token.js';
import { SimDevice } from '../../../simulator/sim-device.js';
import { MemoryFlash } from '../../../simulator/flash.js';
import { VirtualTime } from '../../../simulator/virtual-time.js';

const PASSWORD = 'correct horse battery';
const ROOT = path.join(__dirname, '../../..');

let f: HubFixture;
const tokens: Record<string, string> = {};

/** Every table, but app_state: the application's case sync moves its ledger cursor there in the background. */
async function dump(): Promise<string> {
  const tables = await f.hub.db.all<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'app_state' ORDER BY name`);
  const out: string[] = [];
  for (const { name } of tables) out.push(name, JSON.stringify(await f.hub.db.all(`SELECT * FROM "${name}" ORDER BY 1`)));
  return out.join('\n');
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  f = await startHub();
  await setUpHall(f.api, 2);
  await f.api('PUT', '/api/queue/staff/s2', { name: '李四', department: 'D1' });
  await f.api('PUT', '/api/queue/windows/W2', { name: '二号窗口', items: ['I1'] });
  await f.provision('pad', 'W1', 'pad-1');
  for (const [username, role, staff] of [['tech', 'technician', null], ['zhang', 'staff', 's1'], ['li', 'staff', 's2']] as const) {
    await f.api('PUT', `/api/auth/users/${username}`, { name: username, role, staff, password: PASSWORD });
    tokens[username] = (await f.api('POST', '/api/auth/login', { username, password: PASSWORD }, null)).token;
  }
}, 60_000);
afterAll(async () => f?.stop());

describe('every protected route checks the role first and changes nothing when refusing', () => {
  // method, path, body, roles that may (the start-up token is a supervisor)
  const routes: [string, string, unknown, string[]][] = [
    ['GET', '/api/devices', undefined, ['supervisor', 'technician']],
    ['GET', '/api/devices/pad-1', undefined, ['supervisor', 'technician']],
    ['POST', '/api/devices', { role: 'pad', win: 'W9', id: 'intruder' }, ['supervisor', 'technician']],
    ['POST', '/api/devices/pad-1/config', { rateTimeout: 5000 }, ['supervisor', 'technician']],
    ['GET', '/api/ledger/verify', undefined, ['supervisor', 'technician']],
    ['POST', '/api/ledger/verify', undefined, ['supervisor', 'technician']],
    ['GET', '/api/tokens', undefined, ['supervisor']],
    ['POST', '/api/tokens', { name: 'kiosk', role: 'technician' }, ['supervisor']],
    ['DELETE', '/api/tokens/startup', undefined, ['supervisor']],
    ['GET', '/api/queue/setup', undefined, ['supervisor', 'technician', 'staff']],
    ['PUT', '/api/queue/departments/D9', { name: '公安' }, ['supervisor']],
    ['PUT', '/api/queue/items/I9', { name: '户籍', department: 'D1', prefix: 'H', limitDays: 1 }, ['supervisor']],
    ['PUT', '/api/queue/windows/W9', { name: '九号窗口', items: ['I1'] }, ['supervisor']],
    ['PUT', '/api/queue/staff/s9', { name: '王五', department: 'D1' }, ['supervisor']],
    ['POST', '/api/queue/windows/W2/sign-in', { staff: 's1' }, ['supervisor']], // staff li (s2) may not sign in s1
    ['POST', '/api/queue/windows/W1/sign-out', undefined, ['supervisor']],
    ['POST', '/api/queue/windows/W1/serving', undefined, ['supervisor']],
  ];

  test('no credential (or a bad one): 401, every route, nothing written', async () => {
    const before = await dump();
    for (const [method, url, body] of routes) {
      for (const token of [null, 'sannuo_not-a-token-of-this-hub-at-all']) {
        const res = await f.call(method, url, body, token);
        expect({ method, url, status: res.status }).toEqual({ method, url, status: 401 });
        expect(await res.json()).toMatchObject({ error: 'unauthenticated' });
      }
      // A malformed body is not even read without a credential.
      if (body !== undefined) expect((await fetch(f.http + url, { method, headers: { 'content-type': 'application/json' }, body: '{"oops' })).status).toBe(401);
    }
    expect(await dump()).toBe(before);
  });

  test('a role not allowed: 403, every route, nothing written', async () => {
    const before = await dump();
    const roleOf: Record<string, string> = { tech: 'technician', li: 'staff' };
    let checked = 0;
    for (const [method, url, body, allowed] of routes) {
      for (const user of ['tech', 'li']) {
        if (allowed.includes(roleOf[user])) continue;
        const res = await f.call(method, url, body, tokens[user]);
        expect({ method, url, user, status: res.status }).toEqual({ method, url, user, status: 403 });
        expect((await res.json()).message).toMatch(/needs the role|only a supervisor|only themselves/);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(await dump()).toBe(before);
  });

  test('what the hall shows the public stays open: hall snapshot, ticket lookup, display, issuing', async () => {
    expect((await f.call('GET', '/api/queue/hall', undefined, null)).status).toBe(200);
    expect((await f.call('GET', '/api/queue/windows/W1/display', undefined, null)).status).toBe(200);
    const issued = await f.call('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' }, null);
    expect(issued.status).toBe(201);
    // The lookup is open with the code the ticket carries (issue 18, finding 6).
    expect((await f.call('GET', (await issued.json()).lookup, undefined, null)).status).toBe(200);
    expect((await f.call('GET', '/healthz', undefined, null)).status).toBe(200);
  });

  test('staff sign themselves in and out at a window', async () => {
    const signIn = await f.call('POST', '/api/queue/windows/W2/sign-in', { staff: 's2' }, tokens.li);
    expect(signIn.status).toBe(200);
    expect((await signIn.json()).staff).toBe('s2');
    const out = await f.call('POST', '/api/queue/windows/W2/sign-out', undefined, tokens.li);
    expect(out.status).toBe(200);
    expect((await out.json()).staff).toBe(null);
  });
});

describe('API tokens', () => {
  test('a supervisor creates a technician token: shown once, it provisions but cannot set up the hall; revoked, it is refused', async () => {
    const created = await f.api('POST', '/api/tokens', { name: 'installer laptop', role: 'technician', days: 30 });
    expect(created).toMatchObject({ name: 'installer laptop', role: 'technician', username: `api-${created.id}`, revokedAt: null });
    expect(created.token).toMatch(/^sannuo_[A-Za-z0-9_-]{43}$/);
    expect(created.expiresAt - created.createdAt).toBe(30 * 86_400_000);
    const listed = (await f.api('GET', '/api/tokens')).tokens as Record<string, unknown>[];
    expect(listed.map((t) => t.id)).toEqual(expect.arrayContaining(['startup', created.id]));
    expect(JSON.stringify(listed)).not.toContain(created.token);
    // Only the hash is stored.
    expect(await dump()).not.toContain(created.token);

    const config = await f.api('POST', '/api/devices', { role: 'display', win: 'W2', id: 'disp-2' }, created.token);
    expect(config.secret).toMatch(/^[0-9a-f]{64}$/);
    expect((await f.call('PUT', '/api/queue/departments/D8', { name: 'x' }, created.token)).status).toBe(403);

    expect((await f.api('DELETE', `/api/tokens/${created.id}`)).revokedAt).toEqual(expect.any(Number));
    expect((await f.call('GET', '/api/devices', undefined, created.token)).status).toBe(401);
    expect((await f.call('DELETE', '/api/tokens/nope')).status).toBe(404);
    const kinds = await f.hub.db.all<{ body: string }>(`SELECT body FROM ledger WHERE kind = 'token' ORDER BY "row"`);
    expect(kinds.map((k) => JSON.parse(k.body).action)).toEqual(['start-up', 'create', 'revoke']);
  });

  test('bad token requests name the field', async () => {
    for (const [body, field] of [[{ name: '', role: 'technician' }, 'body.name'], [{ name: 'x', role: 'staff' }, 'body.role'], [{ name: 'x', role: 'technician', days: 0 }, 'body.days'], [{ name: 'x', role: 'technician', colour: 1 }, 'body.colour']] as const) {
      const res = await f.call('POST', '/api/tokens', body);
      expect(res.status).toBe(400);
      expect((await res.json()).field).toBe(field);
    }
  });

  test('the start-up token changes with the setting: a restart with another value refuses the old one', async () => {
    const data = f.data;
    await f.hub.stop();
    const other = 'sannuo_another-startup-token-abcdefghijkl';
    const g = await startHub({ 'api.token': other }, data);
    try {
      expect((await g.call('GET', '/api/devices', undefined, TEST_API_TOKEN)).status).toBe(401);
      expect((await g.call('GET', '/api/devices', undefined, other)).status).toBe(200);
    } finally {
      await g.hub.stop();
    }
    f = await startHub({}, data);
    expect((await f.call('GET', '/api/devices', undefined, TEST_API_TOKEN)).status).toBe(200);
    for (const username of Object.keys(tokens)) tokens[username] = (await f.api('POST', '/api/auth/login', { username, password: PASSWORD }, null)).token;
  }, 60_000);
});

describe('remote config push', () => {
  test('changes the settings of a device running the firmware core, is in the ledger, and says whether it was online', async () => {
    const time = new VirtualTime(Date.now());
    const ticker = setInterval(() => time.advanceTo(Date.now()), 20);
    const config = await f.provision('pad', 'W2', 'pad-cfg');
    const device = new SimDevice({ config, time, mqttUrl: f.hub.mqttUrl, flash: new MemoryFlash(), reconnectPeriod: 200 });
    try {
      device.powerOn();
      await until('pad-cfg online', () => device.link === 'up' && f.hub.registry.health('pad-cfg').online);
      expect(device.device.remoteSettings()).toMatchObject({ rateTimeout: 30_000, volume: 6 });

      const pushed = await f.api('POST', '/api/devices/pad-cfg/config', { rateTimeout: 45_000, volume: 3 });
      expect(pushed).toMatchObject({ device: 'pad-cfg', online: true, settings: { rateTimeout: 45_000, unsolicited: null, volume: 3, idleText: null } });
      await until('the pad applied the config', () => device.device.remoteSettings().rateTimeout === 45_000);
      expect(device.device.remoteSettings()).toMatchObject({ rateTimeout: 45_000, volume: 3, unsolicited: 'ignore' });

      // The technician's CLI, in its own process, with the token from the environment.
      const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin', 'sannuo.js'), 'config', 'push', 'pad-cfg', 'rateTimeout=60000', 'unsolicited=bind', '--hub', f.http],
        { cwd: ROOT, env: { ...process.env, SANNUO_API_TOKEN: TEST_API_TOKEN }, timeout: 60_000 });
      expect(JSON.parse(stdout)).toMatchObject({ device: 'pad-cfg', online: true, settings: { rateTimeout: 60_000, unsolicited: 'bind' } });
      await until('the pad applied the CLI push', () => device.device.remoteSettings().rateTimeout === 60_000);
      expect(device.device.remoteSettings().unsolicited).toBe('bind');

      const rows = await f.hub.db.all<{ dev: string; body: string }>(`SELECT dev, body FROM ledger WHERE kind = 'config' ORDER BY "row"`);
      expect(rows.map((r) => [r.dev, JSON.parse(r.body)])).toEqual([
        ['pad-cfg', { settings: { rateTimeout: 45_000, unsolicited: null, volume: 3, idleText: null }, by: 'api-startup' }],
        ['pad-cfg', { settings: { rateTimeout: 60_000, unsolicited: 'bind', volume: null, idleText: null }, by: 'api-startup' }],
      ]);

      // Bad settings: 400 naming the key, nothing recorded or sent.
      const before = await dump();
      for (const [body, message] of [
        [{ rateTimeout: 100 }, 'body.rateTimeout: expected milliseconds between 3000 and 600000'],
        [{ volume: 11 }, 'body.volume: expected 0–10'],
        [{ unsolicited: 'sometimes' }, 'body.unsolicited: expected one of ignore, bind'],
        [{ colour: 'red' }, 'body.colour: not a setting a config push can change; expected one of rateTimeout, unsolicited, volume, idleText'],
        [{}, 'body: expected at least one of rateTimeout, unsolicited, volume, idleText'],
      ] as const) {
        const res = await f.call('POST', '/api/devices/pad-cfg/config', body);
        expect(res.status).toBe(400);
        expect((await res.json()).message).toBe(message);
      }
      expect((await f.call('POST', '/api/devices/ghost/config', { volume: 1 })).status).toBe(404);
      expect(await dump()).toBe(before);
      expect(device.device.remoteSettings().rateTimeout).toBe(60_000);
    } finally {
      device.shutdown();
      clearInterval(ticker);
    }
    // A device that is not connected: recorded, and sent when it comes online, every push
    // merged (a later key wins).
    // At a window of its own: W2 has its rating pad, pad-cfg (one pad per window, issue 18 finding 7).
    const offlineConfig = await f.provision('pad', 'W3', 'pad-off');
    const offline = await f.api('POST', '/api/devices/pad-off/config', { idleText: '欢迎', volume: 2 });
    expect(offline).toMatchObject({ online: false, note: expect.stringContaining('sent when the device next comes online') });
    expect(await f.api('POST', '/api/devices/pad-off/config', { volume: 9, rateTimeout: 20_000 })).toMatchObject({
      online: false, desired: { idleText: '欢迎', volume: 9, rateTimeout: 20_000, unsolicited: null },
    });
    expect(await f.hub.db.all(`SELECT dev FROM ledger WHERE kind = 'config' AND dev = 'pad-off'`)).toEqual([{ dev: 'pad-off' }, { dev: 'pad-off' }]);
    // A technician can see what the device will be sent; a device never pushed to has none.
    expect((await f.api('GET', '/api/devices/pad-off')).desiredConfig).toMatchObject({ settings: { idleText: '欢迎', volume: 9, rateTimeout: 20_000, unsolicited: null }, by: 'api-startup' });
    await f.provision('display', 'W2', 'disp-never');
    expect((await f.api('GET', '/api/devices/disp-never')).desiredConfig).toBeNull();
    const late = new SimDevice({ config: offlineConfig, time, mqttUrl: f.hub.mqttUrl, flash: new MemoryFlash(), reconnectPeriod: 200 });
    const ticker2 = setInterval(() => time.advanceTo(Date.now()), 20);
    try {
      late.powerOn(); // its defaults are volume 6, rateTimeout 30000 (see above)
      await until('pad-off got its desired settings on coming online', () => late.device.remoteSettings().volume === 9);
      expect(late.device.remoteSettings()).toMatchObject({ idleText: '欢迎', volume: 9, rateTimeout: 20_000, unsolicited: 'ignore' });
    } finally {
      late.shutdown();
      clearInterval(ticker2);
    }
  }, 90_000);
});
