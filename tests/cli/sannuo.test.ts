import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfigPairs, parseDevicesCsv } from '../../cli/sannuo.js';

const ROOT = path.join(__dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'sannuo.js');

/** Runs the real CLI in its own process, as a technician would. */
function sannuo(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, SANNUO_HUB: 'http://127.0.0.1:9' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-cli-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('sannuo CLI', () => {
  test('--help works on the program and on every subcommand', () => {
    const top = sannuo('--help');
    expect(top.code).toBe(0);
    for (const name of ['start', 'hub', 'sim', 'provision', 'flash', 'devices', 'config', 'verify', 'backup', 'restore', 'install-service']) expect(top.out).toContain(name);
    for (const sub of [['start'], ['sim'], ['provision'], ['flash'], ['devices'], ['config', 'push'], ['verify'], ['backup'], ['restore'], ['install-service']]) {
      const r = sannuo(...sub, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^Usage: sannuo /);
    }
  }, 120_000);

  test('an unknown scenario key is named with its path, exit code 2', () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ windows: [{ id: 'W1', items: ['marriage'], colour: 'red' }] }));
    const r = sannuo('sim', file);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${file}: windows[0].colour: unknown key`);
  });

  test('a missing scenario file says so and what is expected', () => {
    const r = sannuo('sim', path.join(dir, 'nope.json'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/nope\.json: file not found; expected a scenario JSON file/);
  });

  test('a CSV with a bad row names the line and the column', () => {
    const file = path.join(dir, 'devices.csv');
    fs.writeFileSync(file, 'id,role,win\nW01-pad,pad,W01\nW01-dsp,screen,W01\n');
    const r = sannuo('provision', '--csv', file);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${file}:3: column role: "screen"; expected one of pad, display`);
  });

  test('a missing CSV file is named', () => {
    const r = sannuo('provision', '--csv', path.join(dir, 'none.csv'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/none\.csv: cannot read \(ENOENT\); expected a CSV file with a header id,role,win/);
  });

  test('an unknown option is refused with usage, exit code 2', () => {
    const r = sannuo('devices', '--colour');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown option '--colour'/);
  });

  test('an unreachable hub is an error on stderr with exit code 1', () => {
    const r = sannuo('verify');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/hub not reachable/);
  });

  test('flash without the Moddable SDK says exactly what is missing and how to get it', () => {
    const r = spawnSync(process.execPath, [BIN, 'flash', '--config', path.join(dir, 'dev.json')], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, MODDABLE: '' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/\$MODDABLE is not set: install the Moddable SDK/);
    expect(r.stderr).toMatch(/dev\.json: file not found; write one with `sannuo provision --out <file>`/);
  });

  test('CSV parsing: header, column count, duplicate ids', () => {
    expect(() => parseDevicesCsv('id,role\nx,pad\n', 'a.csv')).toThrow('a.csv:1: header: missing column "win"; expected id,role,win[,fw]');
    expect(() => parseDevicesCsv('id,role,win\nx,pad\n', 'a.csv')).toThrow('a.csv:2: expected 3 columns (id,role,win), found 2');
    expect(() => parseDevicesCsv('id,role,win\nx,pad,W1\nx,display,W1\n', 'a.csv')).toThrow('a.csv:3: column id: "x" is already on line 2');
    expect(parseDevicesCsv('id,role,win,fw\nx,pad,W1,1.2.0\n', 'a.csv')).toEqual([{ line: 2, id: 'x', role: 'pad', win: 'W1', fw: '1.2.0' }]);
  });

  test('config push: each key=value checked before anything is sent', () => {
    expect(parseConfigPairs(['volume=3', 'unsolicited=bind'])).toEqual({ volume: 3, unsolicited: 'bind' });
    expect(() => parseConfigPairs(['volume=11'])).toThrow('volume: expected an integer 0–10');
    expect(() => parseConfigPairs(['colour=red'])).toThrow(/colour: unknown setting; expected one of rateTimeout, unsolicited, volume, idleText/);
    expect(() => parseConfigPairs(['volume'])).toThrow('"volume": expected key=value');
  });
});
