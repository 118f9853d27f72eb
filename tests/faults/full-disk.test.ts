/**
 * A full disk under load (issue 19): the data folder is a small tmpfs the test mounts, devices
 * keep sending, and a filler file takes the last byte. The hub must tell the truth:
 * - /readyz is 503 within 2 s of the first failed commit, and 200 again by itself once the
 *   space is freed (its probe commit), with no device traffic needed;
 * - sannuo_events_committed_total equals the ledger's event rows at the end (counted after
 *   commit, not inside the transaction);
 * - the outage writes a bounded number of log lines, not one per event per resend;
 * - nothing is lost or doubled: every event each device sent is in the ledger once.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startHub, type HubFixture } from '../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../support/device.js';

const MiB = 1024 * 1024;
let mount: string | undefined;
let f: HubFixture | undefined;
const devices: FakeDevice[] = [];

/** A size-limited file system of our own: tmpfs where this machine lets us mount it. */
function mountTmpfs(sizeMiB: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot mount a ${sizeMiB} MiB tmpfs for the full-disk test (needs root or CAP_SYS_ADMIN): ${(error as { stderr?: Buffer }).stderr?.toString().trim() ?? error}`);
  }
  return dir;
}

afterEach(async () => {
  for (const d of devices.splice(0)) await d.close().catch(() => undefined);
  if (mount) fs.rmSync(path.join(mount, 'filler'), { force: true });
  await f?.stop().catch(() => undefined);
  f = undefined;
  if (mount) {
    try { execFileSync('umount', [mount]); } catch { /* left for the OS */ }
    fs.rmSync(mount, { recursive: true, force: true });
    mount = undefined;
  }
});

/** Writes until the file system is full; returns the bytes written. */
function fill(file: string): number {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  let written = 0;
  try {
    for (;;) {
      try {
        written += fs.writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        // The last partial chunk: fill to the last byte.
        for (let n = chunk.length >> 1; n >= 1; n >>= 1) {
          try { written += fs.writeSync(fd, chunk.subarray(0, n)); } catch { /* smaller next */ }
        }
        return written;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

test('a full disk under load: /readyz tells it within 2 s and recovers by itself; counters match the ledger; the log stays short; nothing lost or doubled', async () => {
  mount = mountTmpfs(24);
  const lines: { level: number; msg: string; time: number }[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); done(); } });
  const log = pino({ level: 'info' }, sink);
  f = await startHub({ 'health.lowDiskMb': 8, 'health.minFreeMb': 0, 'health.probeMs': 250, 'ingest.batchWindow': 5 }, path.join(mount, 'data'), { log });
  const hub = f;
  for (let i = 0; i < 4; i++) devices.push(await hub.device('display', `W${i + 1}`, `disp-${i}`));

  // Load: every device sends an event every 20 ms and resends its unacked ones every 500 ms (as the firmware's uplink does).
  let sending = true;
  const load = (async () => {
    let tick = 0;
    while (sending) {
      for (const d of devices) await d.send('boot', bootBody);
      if (++tick % 25 === 0) for (const d of devices) await d.resendUnacked();
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const ready = async () => (await fetch(`${hub.http}/readyz`)).status;
  await waitFor('some commits', async () => (await hub.metric('sannuo_events_committed_total')) > 50);
  expect(await ready()).toBe(200);

  // Take every byte left: commits start failing.
  const filler = path.join(mount, 'filler');
  const filled = fill(filler);
  const outageStart = lines.length;
  let firstFailureAt = 0;
  let notReadyAt = 0;
  await waitFor('the first failed commit and /readyz 503', async () => {
    if (!firstFailureAt && (await hub.metric('sannuo_commit_failures_total')) > 0) firstFailureAt = Date.now();
    if (firstFailureAt && !notReadyAt && (await ready()) === 503) notReadyAt = Date.now();
    return notReadyAt > 0;
  }, 30_000);
  expect(notReadyAt - firstFailureAt).toBeLessThan(2_000);
  const health = await (await fetch(`${hub.http}/healthz`, { headers: { authorization: `Bearer ${hub.token}` } })).json();
  expect(health).toMatchObject({ ok: false, ready: false, commits: { failing: true } });
  expect(health.disk.low).toBe(true);
  expect(await hub.metric('sannuo_commits_failing')).toBe(1);

  // The outage lasts a while under load, then the devices stop (no traffic needed to recover).
  await new Promise((r) => setTimeout(r, 4_000));
  sending = false;
  await load;
  const failures = await hub.metric('sannuo_commit_failures_total');
  expect(failures).toBeGreaterThan(5);

  // Space is freed: the probe commits and /readyz is 200 again by itself.
  fs.rmSync(filler);
  const freedAt = Date.now();
  await waitFor('/readyz 200 after the space is freed', async () => (await ready()) === 200, 10_000);
  const recoveredMs = Date.now() - freedAt;
  const outageLines = lines.slice(outageStart).filter((l) => l.level >= 40);

  // The devices resend what is still unacked until everything is committed.
  await waitFor('every event acked', async () => {
    for (const d of devices) await d.resendUnacked();
    await new Promise((r) => setTimeout(r, 300));
    return devices.every((d) => d.unacked.size === 0);
  }, 30_000);

  // Committed means committed: the counter equals the ledger's rows.
  const ledgerEvents = await hub.eventRows();
  expect(await hub.metric('sannuo_events_committed_total')).toBe(ledgerEvents);
  // Nothing lost or doubled: each device's seqs 1..n, each once.
  for (const d of devices) {
    const rows = await hub.hub.db.all<{ seq: number; n: number }>(`SELECT seq, COUNT(*) AS n FROM ledger WHERE kind = 'event' AND dev = $1 GROUP BY seq ORDER BY seq`, [d.id]);
    expect(rows.length).toBe(d.seq);
    expect(rows.every((r, i) => Number(r.seq) === i + 1 && Number(r.n) === 1)).toBe(true);
  }
  // A bounded log: a start line, summaries, an end line, per condition; not one per event per resend.
  if (outageLines.length >= 15) console.info(JSON.stringify([...new Set(outageLines.map((l) => l.msg))]).slice(0, 3000));
  expect(outageLines.length).toBeLessThan(15);
  expect(lines.some((l) => /commits are failing.*\(ended/.test(l.msg))).toBe(true);
  expect((await hub.api('GET', '/api/ledger/verify')).ok).toBe(true);
  console.info(`full disk: filler ${Math.round(filled / MiB)} MiB; ${failures} failed commits; /readyz 503 ${notReadyAt - firstFailureAt} ms after the first; 200 ${recoveredMs} ms after freeing; ${outageLines.length} warn/error lines; ${ledgerEvents} events, each once`);
}, 120_000);
