/**
 * The Updater and the device's ed25519/SHA-256 path inside XS, Moddable's engine: the same
 * transcript as on Node for an applied update, a resumed download, one given up, a bad
 * signature, a wrong hash and the version already running.
 */

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runUpdateScenario } from './update-scenario.js';

let xs: Record<string, string[]>;
const node = runUpdateScenario();

beforeAll(() => {
  const child = spawnSync(process.execPath, [join(__dirname, 'run-update-xs.mjs')], { cwd: join(__dirname, '..', '..'), encoding: 'utf8', timeout: 120_000 });
  if (child.stderr) process.stderr.write(child.stderr);
  if (child.status !== 0) throw new Error(`run-update-xs.mjs exited ${child.status ?? child.signal}: ${child.stderr}`);
  xs = JSON.parse(child.stdout);
}, 130_000);

test('XS and Node produce the same update transcript', () => {
  expect(xs).toEqual(node);
});

test('the transcript is what the Updater promises: switch last, and only after signature and hash', () => {
  expect(node.applied).toEqual(['begin 10000', 'downloading 0/10000', 'offer started', 'downloading 4096/10000', 'downloading 8192/10000', 'downloading 10000/10000', 'verifying 10000/10000', 'complete 10000', 'switching 10000/10000', 'restart', 'requests 3 retries 0']);
  expect(node.resumed).toContain('requests 5 retries 2');
  expect(node.resumed).toContain('complete 10000');
  expect(node.gaveUp).toEqual(['begin 10000', 'downloading 0/10000', 'offer started', 'cancel 0', 'failed 0/10000 download: connection reset (after 2 retries)', 'requests 3 retries 2']);
  expect(node.badSignature).toEqual(["failed 0/10000 signature: the image is not signed by this device's release key", 'offer failed', 'requests 0 retries 0']);
  expect(node.wrongHash.slice(-3)).toEqual(['cancel 10000', expect.stringMatching(/^failed 10000\/10000 hash: the image's SHA-256 is [0-9a-f]{64}, the offer says [0-9a-f]{64}$/), 'requests 3 retries 0']);
  expect(node.current).toEqual(['offer current', 'requests 0 retries 0']);
});
