/**
 * Finding 13: the data folder holds the database (every device secret), the hub key and the
 * first supervisor's password. The folder is 0700; the database and its WAL are 0600, also when
 * the folder and the file were there before with wider modes.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHub } from '../../support/hub.js';

const mode = (file: string) => fs.statSync(file).mode & 0o777;

test('the data folder is 0700, the database, its WAL and the hub key 0600', async () => {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-modes-'));
  fs.chmodSync(data, 0o755);
  fs.writeFileSync(path.join(data, 'sannuo.db'), '', { mode: 0o644 });
  fs.chmodSync(path.join(data, 'sannuo.db'), 0o644); // whatever the umask
  const f = await startHub({}, data);
  try {
    await f.api('PUT', '/api/queue/departments/D1', { name: '市场监管' }); // a commit, so the WAL exists
    expect(mode(data)).toBe(0o700);
    expect(mode(path.join(data, 'sannuo.db'))).toBe(0o600);
    expect(fs.existsSync(path.join(data, 'sannuo.db-wal'))).toBe(true);
    expect(mode(path.join(data, 'sannuo.db-wal'))).toBe(0o600);
    expect(mode(path.join(data, 'hub.key'))).toBe(0o600);
  } finally {
    await f.stop();
  }
});
