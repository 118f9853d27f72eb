import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mosquittoHash, mosquittoVerify, aclFileText, writeMosquittoFiles, mosquittoTexts, mosquittoBrokerLines } from '../../../hub/mqtt/mosquitto.js';

const source = {
  list: () => [{ id: 'pad-1' }, { id: 'disp-1' }] as never,
  mqttPassword: (id: string) => `pw-${id}`,
};

test('our $7$ hashes and mosquitto_passwd\'s verify each other', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-pw-'));
  const file = path.join(dir, 'pw');
  fs.writeFileSync(file, '');
  execFileSync('mosquitto_passwd', ['-b', file, 'alice', 's3cret']);
  const theirs = fs.readFileSync(file, 'utf8').trim().split(':')[1];
  expect(mosquittoVerify('s3cret', theirs)).toBe(true);
  expect(mosquittoVerify('wrong', theirs)).toBe(false);
  const ours = mosquittoHash('s3cret');
  expect(ours).toMatch(/^\$7\$101\$[A-Za-z0-9+/=]{16}\$[A-Za-z0-9+/=]{88}$/);
  expect(mosquittoVerify('s3cret', ours)).toBe(true);
  fs.rmSync(dir, { recursive: true });
});

test('ACL: each device its own evt/state (write) and cmd/ack (read); the hub the whole site', () => {
  const text = aclFileText(source, 'site1', { username: '$hub', password: 'x' });
  expect(text).toContain('user $hub\ntopic readwrite sannuo/v1/site1/#');
  expect(text).toContain('user pad-1\ntopic write sannuo/v1/site1/pad-1/evt\ntopic write sannuo/v1/site1/pad-1/state\ntopic read sannuo/v1/site1/pad-1/cmd\ntopic read sannuo/v1/site1/pad-1/ack');
  expect(text).not.toMatch(/pad-1\/(cmd|ack)[^\n]*\n[^\n]*write/);
});

test('files are written atomically and readable by the mosquitto user', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-mf-'));
  const files = writeMosquittoFiles(source, { dir, site: 'site1', hub: { username: '$hub', password: 'hubpw' } });
  const lines = fs.readFileSync(files.passwordFile, 'utf8').trim().split('\n');
  expect(lines.map((l) => l.split(':')[0])).toEqual(['$hub', 'pad-1', 'disp-1', '$hub-intake']);
  expect(mosquittoVerify('pw-pad-1', lines[1].split(':')[1])).toBe(true);
  const st = fs.statSync(files.passwordFile);
  expect(st.mode & 0o777).toBe(0o640);
  if (process.getuid?.() === 0) expect(st.uid).toBe(Number(fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('mosquitto:'))!.split(':')[2]));
  expect(fs.readdirSync(dir).sort()).toEqual(['acl', 'passwd']);
  fs.rmSync(dir, { recursive: true });
});

test('one writer for a district too: every hub user the whole topic root, each device under its own hall', () => {
  const { passwd, acl } = mosquittoTexts({
    hub: { username: '$hub', password: 'hubpw' }, hubUsers: ['$hub.a', '$hub.b'], header: '# district',
    devices: [{ id: 'pad-1', site: 'hz-01', password: 'p1' }, { id: 'pad-2', site: 'hz-02', password: 'p2' }],
  });
  expect(passwd.trim().split('\n').map((l) => l.split(':')[0])).toEqual(['$hub', 'pad-1', 'pad-2', '$hub-intake', '$hub.a', '$hub.b']);
  expect(mosquittoVerify('hubpw', passwd.split('\n')[4].split(':')[1])).toBe(true);
  for (const u of ['$hub', '$hub.a', '$hub.b']) expect(acl).toContain(`user ${u}\ntopic readwrite sannuo/v1/#\n`);
  expect(acl).toContain('user pad-2\ntopic write sannuo/v1/hz-02/pad-2/evt\ntopic write sannuo/v1/hz-02/pad-2/state\ntopic read sannuo/v1/hz-02/pad-2/cmd\ntopic read sannuo/v1/hz-02/pad-2/ack');
  expect(acl).not.toContain('$hub-intake');
});

test('deploy/mosquitto.conf carries every line the hub needs of its broker (persistent sessions, QoS 0 queued, client id = user)', () => {
  const conf = fs.readFileSync(path.join(__dirname, '../../../deploy/mosquitto/mosquitto.conf'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const keyOf = (l: string) => l.split(/\s+/)[0];
  const have = new Map(conf.map((l) => [keyOf(l), l]));
  for (const line of mosquittoBrokerLines({ persistenceDir: '/mosquitto/data', autosaveSeconds: 60 })) {
    // The folder is the deployment's own; every other line as the hub writes it for its tests.
    if (keyOf(line) === 'persistence_location') expect(have.get('persistence_location')).toMatch(/^persistence_location \/\S+\/$/);
    else expect(have.get(keyOf(line))).toBe(line);
  }
});
