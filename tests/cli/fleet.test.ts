/**
 * The technician's commands as the README writes them, run by the real CLI in its own process
 * against a real hub (embedded broker, SQLite); and the rough edges a new user hit: a bad
 * SANNUO_HTTP_PORT, flash --dry-run without the SDK, the devices table with Chinese text, a
 * quoted CSV cell.
 */

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startHub, type HubFixture } from '../../support/hub.js';
import { TEST_API_TOKEN } from '../../support/token.js';
import { waitFor } from '../../support/device.js';
import { parseDevicesCsv } from '../../cli/sannuo.js';

const ROOT = path.join(__dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'sannuo.js');

let hub: HubFixture;
let dir: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-fleet-'));
  hub = await startHub();
});
afterAll(async () => {
  await hub?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The real CLI, asynchronously (the hub runs in this process), with only the SANNUO_* given. */
async function sannuo(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SANNUO_') && k !== 'MODDABLE' && k !== 'IDF_PATH'));
  try {
    const r = await promisify(execFile)(process.execPath, [BIN, ...args], { cwd: dir, env: { ...clean, SANNUO_HUB: hub.http, SANNUO_API_TOKEN: TEST_API_TOKEN, ...env }, timeout: 60_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: e.stdout ?? '', err: e.stderr ?? '' };
  }
}

/** Terminal columns of a string: East Asian wide characters take two (enough for the table's text). */
function columns(text: string): number {
  let n = 0;
  for (const ch of text) n += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/.test(ch) ? 2 : 1;
  return n;
}

test("the README's sequence works as written: provision with --id, config push, devices, verify", async () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = /The commands that talk to a hub send an API token[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  const lines = block!.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l.startsWith('npx sannuo ') && !/^npx sannuo (hub|start)\b/.test(l));
  expect(lines.map((l) => l.split(' ').slice(2, 4).join(' '))).toEqual(['provision --role', 'config push', 'devices', 'verify']);
  const results = [];
  for (const line of lines) {
    const r = await sannuo(line.split(/\s+/).slice(2));
    expect({ line, code: r.code, err: r.err }).toEqual({ line, code: 0, err: '' });
    results.push(r);
  }
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'pad-W01.json'), 'utf8'));
  expect(config).toMatchObject({ id: 'pad-W01', role: 'pad', win: 'W01' });
  expect(results[0].out).toBe(`pad-W01 (pad at W01) → pad-W01.json\n`);
  expect(JSON.parse(results[1].out)).toMatchObject({});
  expect(results[2].out).toMatch(/^id\s+role\s+win\s+online/);
  expect(results[2].out).toMatch(/\npad-W01\s+pad\s+W01\s+离线/);
  expect(results[3].out).toMatch(/^ledger ok: \d+ rows, chain and checkpoint verified\n$/);
});

test('the devices table lines up Chinese cells by terminal columns', async () => {
  await hub.provision('display', 'W02', 'dsp-W02');
  const dev = await hub.device('pad', 'W03', 'pad-W03');
  await dev.publishState(true);
  await waitFor('pad-W03 online', async () => (await hub.api('GET', '/api/devices/pad-W03')).health.online === true);
  const r = await sannuo(['devices']);
  expect(r.code).toBe(0);
  const table = r.out.trim().split('\n').slice(0, -1);
  expect(table.length).toBeGreaterThanOrEqual(3);
  expect(r.out).toContain('在线');
  // Walk each line to the terminal column where the header's fw begins: on every row a cell
  // starts exactly there (a space before it, text at it), however wide the cells before it.
  const header = table[0];
  const at = header.indexOf('fw');
  for (const line of table) {
    let cols = 0;
    let i = 0;
    const chars = [...line];
    while (cols < at) cols += columns(chars[i++]);
    expect({ line, cols, before: chars[i - 1], at: chars[i] === ' ' ? 'space' : 'text' }).toEqual({ line, cols: at, before: ' ', at: 'text' });
  }
});

test('a bad SANNUO_HTTP_PORT breaks no other command, and where it is read it is the settings error, not a stack', async () => {
  const help = await sannuo(['provision', '--help'], { SANNUO_HTTP_PORT: 'eighty' });
  expect(help.code).toBe(0);
  for (const args of [['start', '--no-sim', '--data', path.join(dir, 'start-data')], ['backup', '--data', path.join(dir, 'none')]]) {
    const r = await sannuo(args, { SANNUO_HTTP_PORT: 'eighty' });
    expect({ args, code: r.code, err: r.err }).toEqual({ args, code: 2, err: 'settings: http.port: must be an integer (from SANNUO_HTTP_PORT)\n' });
  }
});

test('flash --dry-run prints the commands without the Moddable SDK, and says what a real flash still needs', async () => {
  const r = await sannuo(['flash', '--config', 'pad-W01.json', '--dry-run']);
  expect(r.code).toBe(0);
  const manifest = path.join(ROOT, 'build', 'flash-pad-W01', 'manifest.json');
  expect(r.out).toBe(`. $IDF_PATH/export.sh\nexport UPLOAD_PORT=${fs.existsSync('/dev/ttyUSB0') ? '/dev/ttyUSB0' : fs.existsSync('/dev/ttyACM0') ? '/dev/ttyACM0' : '/dev/ttyUSB0'}\n$MODDABLE/build/bin/lin/release/mcconfig -d -m -p esp32 -t deploy ${manifest}\n`);
  expect(r.err).toMatch(/^dry run; a real flash would still need:\n {2}- \$MODDABLE is not set/);
  expect(JSON.parse(fs.readFileSync(manifest, 'utf8')).config.sannuo.id).toBe('pad-W01');
  // Without a config there is nothing to print: that stays an error.
  const none = await sannuo(['flash', '--config', 'none.json', '--dry-run']);
  expect(none.code).toBe(1);
  expect(none.err).toMatch(/none\.json: file not found/);
  fs.rmSync(path.dirname(manifest), { recursive: true, force: true });
});

test('the devices CSV is RFC 4180: quoted cells, doubled quotes, a BOM, CRLF; errors name the line', () => {
  expect(parseDevicesCsv('\ufeffid,role,win,fw\r\n"pad-1",pad,W1,"1.2.0"\r\n\r\ndsp-1,display,"W2",1.2.0\r\n', 'd.csv')).toEqual([
    { line: 2, id: 'pad-1', role: 'pad', win: 'W1', fw: '1.2.0' },
    { line: 4, id: 'dsp-1', role: 'display', win: 'W2', fw: '1.2.0' },
  ]);
  // A comma inside quotes is one cell (a naive split made it two and reported a column count).
  expect(() => parseDevicesCsv('id,role,win\n"pad,1",pad,W1\n', 'd.csv')).toThrow('d.csv:2: column id: "pad,1" is not a device id');
  expect(() => parseDevicesCsv('id,role,win\npad-1,pad,"W1\n', 'd.csv')).toThrow('d.csv:2: a quoted cell is not closed');
});
