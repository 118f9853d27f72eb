/**
 * District scaling benchmark, run on demand (never by the tests):
 *   npx tsx bench/two-hubs.ts [--halls 4] [--devices 5] [--window 8] [--count 3000] [--warmup 200] [--time-limit 120]
 *
 * One PostgreSQL and one Mosquitto for the whole run; two phases on them, each with a fresh
 * database and its own hall names (so neither phase starts on the other's rows or topics):
 *   (a) one hub process serving all N halls (the baseline);
 *   (b) two hub processes serving N halls, spread by the leases (2 + 2 for 4 halls).
 * Each hall gets the same load: `devices` light devices (bench/support/device.ts, real signed
 * `state` events) each keeping `window` events in flight, resending an event still unacked after
 * a few seconds, until `count` events per hall have their committed ack. Measured: committed
 * events/s over all halls, device publish → signed ack p50/p99, and the ratio (b)/(a). After each
 * phase every hall's ledger is counted: each sent event exactly once, none missing, none doubled.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import pg from 'pg';
import type { DeviceConfig } from '../firmware/core/config.js';
import { writeMosquittoFiles, NO_DEVICES } from '../hub/mosquitto.js';
import { openPostgres } from '../hub/db/postgres.js';
import { hallDbUrl } from '../hub/lease.js';
import { freePort, startMosquitto, type RunningMosquitto } from '../tests/support/mosquitto.js';
import { startPostgres, type PostgresServer } from '../tests/support/postgres.js';
import { BenchDevice, healthBody } from './support/device.js';
import { HUB_TREE, OPEN_FILES } from './support/hub.js';
import { ClosedLoop } from './support/loop.js';
import { emit, log, percentile, round, sleep, type Figure } from './support/result.js';

interface Options { halls: number; devices: number; window: number; count: number; warmup: number; timeLimit: number; resendAfter: number }

const LEASE = { ttl: 6, renew: 2, poll: 500 }; // short, so halls spread within seconds of start
const KEEP_OUTPUT = 64 * 1024;

/** The shared parts of the district: PostgreSQL, Mosquitto, the one hub key, a temp root. */
interface Shared {
  pg: PostgresServer;
  broker: RunningMosquitto;
  hubUser: { username: string; password: string };
  hubKey: string;
  root: string;
}

/** One district hub as its own process (exec'd by bash after ulimit, so the pid is the hub's). */
class DistrictHub {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private output = '';
  httpPort = 0;
  readonly token = `sannuo_bench_${randomBytes(16).toString('hex')}`;

  constructor(readonly id: string, private readonly shared: Shared, private readonly dbUrl: string, private readonly halls: string[]) {}

  get http(): string { return `http://127.0.0.1:${this.httpPort}`; }

  async start(): Promise<void> {
    const data = path.join(this.shared.root, this.id);
    fs.mkdirSync(data, { recursive: true });
    // A district's hubs share one key: a hall's checkpoint signed by one verifies on the next.
    fs.writeFileSync(path.join(data, 'hub.key'), this.shared.hubKey + '\n', { mode: 0o600 });
    this.httpPort = await freePort();
    const { broker, hubUser } = this.shared;
    const env: Record<string, string> = {
      SANNUO_DATA: data, SANNUO_HTTP_PORT: String(this.httpPort), SANNUO_HTTP_HOST: '127.0.0.1',
      SANNUO_MQTT_HOST: '127.0.0.1', SANNUO_MQTT_PORT: String(await freePort()), SANNUO_LOG_LEVEL: 'error',
      SANNUO_API_TOKEN: this.token,
      SANNUO_DB: this.dbUrl,
      SANNUO_BROKER: `mqtt://${encodeURIComponent(hubUser.username)}:${hubUser.password}@127.0.0.1:${broker.port}`,
      SANNUO_MOSQUITTO_DIR: broker.filesDir, SANNUO_MOSQUITTO_PID_FILE: broker.pidFile,
      SANNUO_CLUSTER_HALLS: '*', SANNUO_CLUSTER_REGISTER: this.halls.join(','), SANNUO_CLUSTER_HUB_ID: this.id,
      SANNUO_CLUSTER_LEASE_TTL: String(LEASE.ttl), SANNUO_CLUSTER_RENEW_INTERVAL: String(LEASE.renew), SANNUO_CLUSTER_POLL_INTERVAL: String(LEASE.poll),
    };
    const command = `ulimit -n ${OPEN_FILES} && exec "${process.execPath}" --import tsx hub/main.ts`;
    const child = spawn('bash', ['-c', command], { cwd: HUB_TREE, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (d: Buffer) => { this.output = (this.output + d.toString()).slice(-KEEP_OUTPUT); };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`hub ${this.id} exited while starting:\n${this.output}`);
      if (await fetch(`${this.http}/healthz`).then((r) => r.ok, () => false)) return;
      if (Date.now() > deadline) throw new Error(`hub ${this.id} not healthy after 60 s:\n${this.output}`);
      await sleep(150);
    }
  }

  pid(): number {
    if (!this.child?.pid) throw new Error(`hub ${this.id} is not running`);
    return this.child.pid;
  }

  async api<T = any>(method: string, pathname: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.http + pathname, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw new Error(`hub ${this.id}: ${method} ${pathname}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** SIGTERM (the hub drains, checkpoints and releases its halls), SIGKILL after 30 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}

interface Lease { hall: string; holder: string | null; epoch: number; expires: number; now: number }

/** CPU ticks of a process (user + system) from /proc/<pid>/stat. */
function processTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
}

/** Busy and total ticks of the whole machine from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = cpu[3] + (cpu[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

interface PhaseResult {
  label: string;
  hubs: number;
  rate: number;
  p50: number;
  p99: number;
  completed: number;
  planned: number;
  timedOut: boolean;
  resent: number;
  /** hall → holder during the measured run. */
  placement: Map<string, string>;
  leasesMoved: string[];
  machineBusyPct: number;
  /** Share of one core each hub used during the measured run, %. */
  hubCpuPct: number[];
  /** Events per hall that are not in its ledger exactly once, with what is wrong. */
  exactlyOnce: { hall: string; sent: number; rows: number; distinct: number; missing: number; doubled: number; strangers: number }[];
}

async function leases(hubs: DistrictHub[]): Promise<Lease[]> {
  for (const hub of hubs) {
    const got = await hub.api<{ leases: Lease[] }>('GET', '/api/halls').catch(() => undefined);
    if (got) return got.leases;
  }
  throw new Error('no hub answers /api/halls');
}

/** Waits until every hall is held by one of the hubs, spread evenly, and each holder serves it. */
async function spread(hubs: DistrictHub[], halls: string[], timeoutMs: number): Promise<Map<string, string>> {
  const deadline = Date.now() + timeoutMs;
  const fair = Math.ceil(halls.length / hubs.length);
  let last: Lease[] = [];
  for (;;) {
    last = await leases(hubs).catch(() => last);
    const held = new Map(last.filter((l) => l.holder && l.expires > l.now).map((l) => [l.hall, l.holder!]));
    const counts = new Map<string, number>();
    for (const holder of held.values()) counts.set(holder, (counts.get(holder) ?? 0) + 1);
    if (halls.every((h) => held.has(h)) && hubs.every((h) => (counts.get(h.id) ?? 0) <= fair && (counts.get(h.id) ?? 0) > 0)) {
      let serving = true;
      for (const [hall, holder] of held) {
        const hub = hubs.find((h) => h.id === holder);
        serving &&= hub !== undefined && await hub.api('GET', `/halls/${hall}/healthz`).then(() => true, () => false);
      }
      if (serving) return held;
    }
    if (Date.now() > deadline) throw new Error(`halls not spread over ${hubs.length} hub(s) after ${timeoutMs / 1000} s: ${JSON.stringify(last)}`);
    await sleep(250);
  }
}

async function phase(shared: Shared, label: string, prefix: string, hubCount: number, o: Options): Promise<PhaseResult> {
  const dbUrl = await shared.pg.createDatabase();
  // The throwaway cluster runs with synchronous_commit=off; a district must keep it on (an ack
  // names a durable commit), so this database gets it back. fsync stays off server-wide.
  {
    const admin = new pg.Client({ connectionString: shared.pg.url });
    await admin.connect();
    try { await admin.query(`ALTER DATABASE ${new URL(dbUrl).pathname.slice(1)} SET synchronous_commit = on`); } finally { await admin.end(); }
  }
  const halls = Array.from({ length: o.halls }, (_, i) => `${prefix}-${i + 1}`);
  const hubs = Array.from({ length: hubCount }, (_, i) => new DistrictHub(`${prefix}-hub-${i + 1}`, shared, dbUrl, halls));
  const devices: BenchDevice[] = [];
  const resendTimer: { t?: NodeJS.Timeout } = {};
  try {
    log(`${label}: starting ${hubCount} hub(s) for ${o.halls} halls`);
    await Promise.all(hubs.map((h) => h.start()));
    const placement = await spread(hubs, halls, 90_000);
    log(`${label}: halls held ${JSON.stringify(Object.fromEntries(placement))}`);
    const holderOf = (hall: string) => hubs.find((h) => h.id === placement.get(hall))!;

    // Devices, provisioned through the hub serving each hall (like any hall's automation).
    const hallOf: string[] = [];
    for (const hall of halls) {
      for (let i = 0; i < o.devices; i++) {
        const config = await holderOf(hall).api<DeviceConfig>('POST', `/halls/${hall}/api/devices`, { role: 'pad', win: `P${i + 1}`, id: `${hall}-pad${i + 1}` });
        if (config.site !== hall) throw new Error(`device ${config.id} provisioned for site ${config.site}, expected ${hall}`);
        devices.push(new BenchDevice(config));
        hallOf.push(hall);
      }
    }
    // Mosquitto learns a device's password when a hub rewrites its files and reloads it.
    for (const d of devices) {
      for (let attempt = 0; ; attempt++) {
        try { await d.connect(shared.broker.url, { reconnectPeriod: 1000, connectTimeout: 5000 }); break; } catch (error) {
          if (attempt > 75) throw new Error(`device ${d.id} cannot log in to Mosquitto: ${String(error)}`);
          await sleep(200);
        }
      }
    }
    log(`${label}: ${devices.length} devices connected`);

    // Signed before the clock starts, so the bench's HMAC cost is not in the figures.
    const warm = Math.ceil(o.warmup / o.devices);
    const measured = Math.ceil(o.count / o.devices);
    const t = Date.now();
    const lines = devices.map((d) => Array.from({ length: warm + measured }, (_, k) => d.sign('state', healthBody(k), t + k).line));

    // Resend until acked: the bench keeps what is in flight, like a device's outbox.
    let loop: ClosedLoop | undefined;
    const pending = devices.map(() => new Map<number, number>()); // k → last sent (ms)
    const sentUpTo = devices.map(() => 0); // events each device sent (the loop sends k in order)
    let resent = 0;
    devices.forEach((d, s) => {
      d.onAck = (item, at) => {
        if (item.verdict !== 'committed') throw new Error(`${d.id} seq ${item.seq} refused: ${item.reason}`);
        pending[s].delete(item.seq - 1);
        loop?.complete(s, item.seq - 1, at);
      };
    });
    const send = (s: number, k: number) => {
      pending[s].set(k, performance.now());
      sentUpTo[s] = Math.max(sentUpTo[s], k + 1);
      void devices[s].publish(lines[s][k]).catch(() => undefined);
    };
    resendTimer.t = setInterval(() => {
      const now = performance.now();
      pending.forEach((m, s) => {
        for (const [k, at] of m) {
          if (now - at < o.resendAfter) continue;
          m.set(k, now);
          resent++;
          if (devices[s].client?.connected) void devices[s].publish(lines[s][k]).catch(() => undefined);
        }
      });
    }, 500);

    loop = new ClosedLoop(devices.length, o.window, 0, warm, send);
    await loop.run(o.timeLimit * 1000, `${label} warm-up`);
    const before = await leases(hubs);
    const cpu0 = machineTicks();
    const hub0 = hubs.map((h) => processTicks(h.pid()));
    loop = new ClosedLoop(devices.length, o.window, warm, measured, send);
    const r = await loop.run(o.timeLimit * 1000, `${label} measured`);
    const cpu1 = machineTicks();
    const hub1 = hubs.map((h) => processTicks(h.pid()));
    const after = await leases(hubs);
    const leasesMoved = after.filter((l) => { const b = before.find((x) => x.hall === l.hall); return !b || b.holder !== l.holder || b.epoch !== l.epoch; }).map((l) => l.hall);

    // Drain what a time limit left in flight, so the count below is about delivery, not timing.
    const drainBy = Date.now() + 60_000;
    while (pending.some((m) => m.size > 0) && Date.now() < drainBy) await sleep(200);
    clearInterval(resendTimer.t);
    const unacked = pending.reduce((n, m) => n + m.size, 0);
    if (unacked) log(`${label}: ${unacked} events still unacked after 60 s of draining`);

    // Exactly once, hall by hall, straight from PostgreSQL: every event each device sent (warm-up
    // and measured, up to where it got) is one ledger row; nothing else is there.
    const sentBy = sentUpTo;
    const exactlyOnce: PhaseResult['exactlyOnce'] = [];
    for (const hall of halls) {
      const db = await openPostgres(hallDbUrl(dbUrl, hall, LEASE.ttl * 1000));
      try {
        let sent = 0; let rows = 0; let distinct = 0; let missing = 0; let doubled = 0; let strangers = 0;
        for (const [s, d] of devices.entries()) {
          if (hallOf[s] !== hall) continue;
          const n = sentBy[s];
          sent += n;
          const got = await db.all<{ boot: number; seq: number; n: number }>(
            `SELECT boot, seq, COUNT(*) AS n FROM ledger WHERE kind = 'event' AND dev = $1 GROUP BY boot, seq`, [d.id]);
          const seqs = new Set(got.filter((g) => Number(g.boot) === d.boot).map((g) => Number(g.seq)));
          for (const g of got) {
            rows += Number(g.n);
            distinct++;
            if (Number(g.n) !== 1) doubled += Number(g.n) - 1;
            if (Number(g.boot) !== d.boot || Number(g.seq) < 1 || Number(g.seq) > n) strangers++;
          }
          for (let seq = 1; seq <= n; seq++) if (!seqs.has(seq)) missing++;
        }
        exactlyOnce.push({ hall, sent, rows, distinct, missing, doubled, strangers });
      } finally {
        await db.close();
      }
    }
    const ticks = (cpu1.total - cpu0.total) || 1;
    const coreTicks = ticks / os.cpus().length; // ticks of one core over the interval
    const result: PhaseResult = {
      label, hubs: hubCount, rate: r.completed / (r.elapsedMs / 1000), p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99),
      completed: r.completed, planned: r.planned, timedOut: r.timedOut, resent, placement, leasesMoved,
      machineBusyPct: (100 * (cpu1.busy - cpu0.busy)) / ticks,
      hubCpuPct: hubs.map((_, i) => (100 * (hub1[i] - hub0[i])) / coreTicks),
      exactlyOnce,
    };
    log(`${label}: ${Math.round(result.rate)} events/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms; machine busy ${result.machineBusyPct.toFixed(0)} %, hub CPU ${result.hubCpuPct.map((p) => p.toFixed(0) + ' %').join(' + ')} of a core; ${resent} resent; leases moved: ${leasesMoved.join(', ') || 'none'}`);
    for (const e of exactlyOnce) log(`${label}: ${e.hall}: sent ${e.sent}, ledger rows ${e.rows}, missing ${e.missing}, doubled ${e.doubled}, strangers ${e.strangers}`);
    return result;
  } finally {
    clearInterval(resendTimer.t);
    for (const d of devices) await d.close().catch(() => undefined);
    await Promise.all(hubs.map((h) => h.stop().catch(() => undefined)));
  }
}

async function main(): Promise<void> {
  const int = (v: string) => Number.parseInt(v, 10);
  const o = new Command()
    .option('--halls <n>', 'halls in the district', int, 4)
    .option('--devices <n>', 'devices per hall', int, 5)
    .option('--window <n>', 'events in flight per device', int, 8)
    .option('--count <n>', 'measured events per hall', int, 3000)
    .option('--warmup <n>', 'events per hall before the clock starts', int, 200)
    .option('--time-limit <s>', 'seconds per measured run at most', int, 120)
    .option('--resend-after <ms>', 'a device resends an event unacked this long', int, 5000)
    .parse()
    .opts<Options>();
  for (const [k, v] of Object.entries(o)) if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: expected a positive integer, got ${String(v)}`);
  if (o.halls < 2) throw new Error('--halls: two hubs need at least 2 halls to share');

  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-bench-district-'));
  const hubUser = { username: '$hub', password: randomBytes(16).toString('hex') };
  let pgServer: PostgresServer | undefined;
  let broker: RunningMosquitto | undefined;
  const stopAll = async () => {
    await broker?.stop().catch(() => undefined);
    await pgServer?.stop().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  };
  // Stopped by bench/run.ts (time limit) or Ctrl-C: take the servers down with us.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { void stopAll().finally(() => process.exit(130)); });
  try {
    log('starting PostgreSQL and Mosquitto');
    pgServer = await startPostgres();
    broker = await startMosquitto((dir) => { writeMosquittoFiles(NO_DEVICES, { dir, site: 'none', hub: hubUser }); });
    const shared: Shared = { pg: pgServer, broker, hubUser, hubKey: randomBytes(32).toString('hex'), root };
    const one = await phase(shared, 'one hub', 'one', 1, o);
    const two = await phase(shared, 'two hubs', 'two', 2, o);

    const ratio = two.rate / one.rate;
    const broken = [one, two].flatMap((p) => p.exactlyOnce.filter((e) => e.missing || e.doubled || e.strangers).map((e) => `${p.label} ${e.hall}`));
    const wrong = (p: PhaseResult) => p.exactlyOnce.reduce((n, e) => n + e.missing + e.doubled + e.strangers, 0);
    const truncated = (p: PhaseResult) => (p.timedOut ? `time limit: ${p.completed}/${p.planned} done` : undefined);
    const notes = [truncated(two), truncated(one), two.leasesMoved.length ? `leases moved during the two-hub run: ${two.leasesMoved.join(', ')}` : undefined].filter(Boolean).join('; ') || undefined;
    const base = (name: string, value: number, unit: string) => ({ name: `one hub, ${o.halls} halls: ${name}`, value: round(value, unit === 'ms' ? 2 : 0), unit });
    const placement = (p: PhaseResult) => [...new Set(p.placement.values())].map((h) => `${h}: ${[...p.placement].filter(([, x]) => x === h).map(([hall]) => hall).join(' ')}`).join('; ');
    const cores = os.cpus().length;
    const figures: Figure[] = [
      { name: `two hubs, ${o.halls} halls: committed events/s`, value: round(two.rate, 0), unit: 'events/s', baseline: base('committed events/s', one.rate, 'events/s'), note: notes },
      { name: 'two hubs: device → signed ack p50', value: round(two.p50), unit: 'ms', baseline: base('p50', one.p50, 'ms') },
      { name: 'two hubs: device → signed ack p99', value: round(two.p99), unit: 'ms', baseline: base('p99', one.p99, 'ms') },
      { name: 'scaling, two hubs ÷ one hub (events/s)', value: round(ratio), unit: '×', note: `${cores} cores, busy ${two.machineBusyPct.toFixed(0)} % (two hubs) / ${one.machineBusyPct.toFixed(0)} % (one hub)` },
      { name: 'events not in their hall\'s ledger exactly once (both runs)', value: wrong(one) + wrong(two), unit: 'events', bar: { op: '<=', limit: 0, text: '0' }, note: broken.length ? `in ${broken.join(', ')}` : `${[one, two].reduce((n, p) => n + p.exactlyOnce.reduce((m, e) => m + e.sent, 0), 0)} events counted` },
    ];
    emit({
      bench: 'two-hubs', title: `District scaling: two hub processes against one, ${o.halls} halls on one PostgreSQL and one Mosquitto`, figures,
      config: {
        halls: o.halls, 'devices per hall': o.devices, 'in-flight window per device': o.window, 'measured events per hall': o.count, 'warm-up events per hall': o.warmup,
        event: 'state (signed, ledgered, not queued)', QoS: 1, 'resend after ms': o.resendAfter, database: 'PostgreSQL 15, one cluster (fsync=off, synchronous_commit=on per database)', broker: 'Mosquitto 2, one',
        'lease ttl/renew/poll': `${LEASE.ttl} s / ${LEASE.renew} s / ${LEASE.poll} ms`, cores,
        'placement, one hub': placement(one), 'placement, two hubs': placement(two),
        'hub CPU, one hub (% of a core)': one.hubCpuPct.map((p) => round(p, 0)).join(' '), 'hub CPU, two hubs (% of a core)': two.hubCpuPct.map((p) => round(p, 0)).join(' + '),
        'resent events': `${one.resent} (one hub), ${two.resent} (two hubs)`,
      },
      notes: [
        `On this ${cores}-core machine the two hubs share the same cores with PostgreSQL and Mosquitto (and the bench's devices), so the scaling ratio is bounded by the machine, not only by the design: a district gives each hub its own machine, and PostgreSQL its own.`,
        'Each phase runs on a fresh database of the same PostgreSQL cluster and its own hall names, the one-hub phase first; both measure after the same warm-up.',
        'PostgreSQL here is the throwaway test cluster with fsync=off: commits pay WAL writes but no disk flush, so these rates are CPU-bound; on a disk-backed district each commit waits for fsync and group commit matters more.',
      ],
    });
    if (broken.length) {
      log(`exactly-once broken: ${broken.join(', ')}`);
      process.exitCode = 1;
    }
  } finally {
    await stopAll();
  }
}

main().then(() => process.exit(process.exitCode ?? 0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
