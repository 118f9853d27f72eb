/**
 * sannuo install-service: the unit --dry-run prints is one systemd accepts (systemd-analyze
 * verify, where it is installed: on this Debian it is), with Restart=always, a user of its own
 * and the data folder 0700; installing writes it and makes the folder.
 */

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installService, serviceUnit, unitFiles } from '../../hub/ops/service.js';

const ROOT = path.join(__dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'sannuo.js');
const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((f) => fs.existsSync(f));

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-svc-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('--dry-run prints units that systemd-analyze verify accepts, with the rules the brief sets', () => {
  const r = spawnSync(process.execPath, [BIN, 'install-service', '--dry-run', '--mosquitto', '--postgres', '--unit-dir', dir, '--config', '/etc/sannuo/hall.json'], { cwd: ROOT, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const files = unitFiles(r.stdout);
  expect(files.map((f) => path.basename(f.file))).toEqual(['sannuo.service', 'sannuo-mosquitto-reload.path', 'sannuo-mosquitto-reload.service']);
  const unit = files[0].text;
  for (const line of ['Restart=always', 'User=sannuo', 'Group=sannuo', 'StateDirectory=sannuo', 'StateDirectoryMode=0700', 'UMask=0077',
    'Environment=SANNUO_DATA=/var/lib/sannuo', 'Environment=SANNUO_CONFIG=/etc/sannuo/hall.json', 'SupplementaryGroups=mosquitto',
    `ExecStart=${process.execPath} ${BIN} hub`, 'After=network-online.target mosquitto.service postgresql.service', 'StartLimitIntervalSec=0']) {
    expect(unit.split('\n')).toContain(line);
  }
  for (const f of files) fs.writeFileSync(f.file, f.text);
  // Nothing was installed by the dry run beyond the files this test wrote itself.
  expect(fs.existsSync('/etc/systemd/system/sannuo.service') && fs.readFileSync('/etc/systemd/system/sannuo.service', 'utf8') === unit).toBe(false);
  if (ANALYZE) {
    const v = spawnSync(ANALYZE, ['verify', ...files.map((f) => f.file)], { encoding: 'utf8' });
    // verify exits 0 on warnings too; a clean unit prints nothing.
    expect({ status: v.status, out: v.stdout + v.stderr }).toEqual({ status: 0, out: '' });
    // And it does catch a bad unit (so the check above means something).
    const bad = path.join(dir, 'bad.service');
    fs.writeFileSync(bad, unit.replace('Restart=always', 'Restart=sometimes'));
    expect(spawnSync(ANALYZE, ['verify', bad], { encoding: 'utf8' }).stderr).toMatch(/restart specifier/);
  } else {
    // No systemd here: at least every line is a section, a comment or key=value.
    for (const line of unit.split('\n')) expect(line).toMatch(/^(|#.*|\[[A-Za-z]+\]|[A-Za-z]+=.*)$/);
  }
});

test('a data folder outside /var/lib is named as a writable path; a checkout under /home is kept readable', () => {
  const unit = serviceUnit({ name: 'hall', user: 'hall', data: '/srv/sannuo data', unitDir: dir, root: '/home/tech/sannuo', node: '/usr/bin/node' });
  expect(unit).toContain('ReadWritePaths="/srv/sannuo data"');
  expect(unit).not.toContain('StateDirectory=');
  expect(unit).toContain('ProtectHome=read-only');
  expect(unit).toContain('ExecStart=/usr/bin/node /home/tech/sannuo/bin/sannuo.js hub');
});

test('installing writes the unit and makes the data folder 0700, owned by the user (as root; refused otherwise)', async () => {
  const data = path.join(dir, 'data');
  const context = { name: 'sannuo-test', user: 'root', data, unitDir: path.join(dir, 'units'), root: ROOT, node: process.execPath };
  const unit = serviceUnit(context);
  if (process.getuid?.() !== 0) {
    await expect(installService(unit, context)).rejects.toThrow(/run it as root/);
    return;
  }
  const done = await installService(unit, context);
  expect(done).toContain(`data folder ${data}: owner root, mode 0700`);
  expect(fs.statSync(data).mode & 0o777).toBe(0o700);
  expect(fs.readFileSync(path.join(dir, 'units', 'sannuo-test.service'), 'utf8')).toBe(unit);
  expect(done[done.length - 1]).toBe('next: systemctl enable --now sannuo-test');
});
