/**
 * District scaling benchmark, run on demand (never by the tests):
 *   npx tsx bench/two-hubs.ts [--halls 4] [--devices 5] [--window 8] [--count 3000] [--warmup 200] [--time-limit 120]
 *
 * One PostgreSQL and one Mosquitto for the whole run; two phases on them, each with a fresh
 * database and its own hall names (so neither phase starts on the other's rows or topics):
 *   (a) one hub process serving all N halls (the baseline);
 *   (b) two hub processes serving N halls, spread by the leases (2 + 2 for 4 halls).
 * Each hall gets the same load: `devices` light devices (support/device.ts, real signed
 * `state` events) each keeping `window` events in flight, resending an event still unacked after
 * a few seconds, until `count` events per hall have their committed ack. Measured: committed
 * events/s over all halls, device publish → signed ack p50/p99, and the ratio (b)/(a). After each
 * phase every hall's ledger is counted: each sent event exactly once, none missing, none doubled.
 */

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import pg from 'pg';
import type { DeviceConfig } from '../firmware/core/config.js';
import { writeMosquittoFiles, NO_DEVICES } from '../hub/mqtt/mosquitto.js';
import { openPostgres } from '../hub/db/postgres.js';
import { hallDbUrl } from '../hub/district/lease.js';
import { startMosquitto, type RunningMosquitto } from '../support/mosquitto.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { FakeDevice, healthBody } from '../support/device.js';
import { ClosedLoop } from './support/loop.js';
import { DistrictHub, LEASE, type Lease, type Shared } from './support/district-hub.js';
import { CpuMeter, type CpuSplit } from './support/cpu.js';
import { emit, log, percentile, round, sleep, type Figure } from './support/result.js';

interface Options { halls: number; devices: number; window: number; count: number; warmup: number; timeLimit: number; resendAfter: number }

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
  elapsedMs: number;
  latencies: number[];
  cpu: CpuSplit;
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
  const devices: FakeDevice[] = [];
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
        devices.push(new FakeDevice(config, { track: false }));
        hallOf.push(hall);
      }
    }
    // Mosquitto learns a device's password when a hub rewrites its files and reloads it.
    for (const d of devices) {
      for (let attempt = 0; ; attempt++) {
        try { await d.connect(shared.broker.url, { reconnectPeriod: 1000, connectTimeout: 5000, will: false }); break; } catch (error) {
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
    const lines = devices.map((d) => Array.from({ length: warm + measured }, (_, k) => d.sign('state', healthBody(k), t + k)));

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
    const meter = new CpuMeter({ hubs: hubs.map((h) => h.pid()), postmaster: shared.postmaster, mosquitto: shared.mosquittoPid });
    loop = new ClosedLoop(devices.length, o.window, warm, measured, send);
    const r = await loop.run(o.timeLimit * 1000, `${label} measured`);
    const cpu = meter.stop();
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
    const result: PhaseResult = {
      label, hubs: hubCount, rate: r.completed / (r.elapsedMs / 1000), p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99),
      completed: r.completed, planned: r.planned, timedOut: r.timedOut, resent, placement, leasesMoved,
      elapsedMs: r.elapsedMs, latencies: r.latencies, cpu, exactlyOnce,
    };
    log(`${label}: ${Math.round(result.rate)} events/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms; ${resent} resent; leases moved: ${leasesMoved.join(', ') || 'none'}`);
    log(`${label}: CPU (% of one core): ${describeCpu(cpu)}`);
    for (const e of exactlyOnce) log(`${label}: ${e.hall}: sent ${e.sent}, ledger rows ${e.rows}, missing ${e.missing}, doubled ${e.doubled}, strangers ${e.strangers}`);
    return result;
  } finally {
    clearInterval(resendTimer.t);
    for (const d of devices) await d.close().catch(() => undefined);
    await Promise.all(hubs.map((h) => h.stop().catch(() => undefined)));
  }
}

function describeCpu(c: CpuSplit): string {
  const f = (p: number) => p.toFixed(0);
  return `hub${c.hubsPct.length > 1 ? 's' : ''} ${c.hubsPct.map(f).join(' + ')}, PostgreSQL ${f(c.postgresPct)}, Mosquitto ${f(c.mosquittoPct)}, bench devices ${f(c.devicesPct)}, kernel irq/softirq ${f(c.kernelPct)}, stolen ${f(c.stealPct)}, other processes ${f(c.othersPct)}; machine ${f(c.machineBusyPct)} % busy`;
}

/** Several rounds of one kind taken together: rate over all their time, percentiles over all samples, CPU averaged. */
function pool(rounds: PhaseResult[]): { rate: number; p50: number; p99: number; cpu: CpuSplit; timedOut: boolean; completed: number; planned: number } {
  const latencies = rounds.flatMap((r) => r.latencies);
  const completed = rounds.reduce((n, r) => n + r.completed, 0);
  const seconds = rounds.reduce((n, r) => n + r.elapsedMs, 0) / 1000;
  const mean = (get: (c: CpuSplit) => number) => rounds.reduce((n, r) => n + get(r.cpu) * r.elapsedMs, 0) / (seconds * 1000);
  const cpu: CpuSplit = {
    machineBusyPct: mean((c) => c.machineBusyPct), postgresPct: mean((c) => c.postgresPct), mosquittoPct: mean((c) => c.mosquittoPct),
    devicesPct: mean((c) => c.devicesPct), kernelPct: mean((c) => c.kernelPct), stealPct: mean((c) => c.stealPct), othersPct: mean((c) => c.othersPct),
    hubsPct: rounds[0].cpu.hubsPct.map((_, i) => mean((c) => c.hubsPct[i])),
  };
  return { rate: completed / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpu, timedOut: rounds.some((r) => r.timedOut), completed, planned: rounds.reduce((n, r) => n + r.planned, 0) };
}

async function main(): Promise<void> {
  const int = (v: string) => Number.parseInt(v, 10);
  const o = new Command()
    .option('--halls <n>', 'halls in the district', int, 4)
    .option('--devices <n>', 'devices per hall', int, 5)
    .option('--window <n>', 'events in flight per device', int, 8)
    .option('--count <n>', 'measured events per hall, per round', int, 4000)
    .option('--warmup <n>', 'events per hall before the clock starts', int, 400)
    .option('--rounds <n>', 'rounds of each kind, in the order one, two, two, one, … (drift on a shared machine cancels)', int, 2)
    .option('--time-limit <s>', 'seconds per measured run at most', int, 120)
    .option('--resend-after <ms>', 'a device resends an event unacked this long', int, 5000)
    .parse()
    .opts<Options & { rounds: number }>();
  for (const [k, v] of Object.entries(o)) if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: expected a positive integer, got ${String(v)}`);
  if (o.halls < 2) throw new Error('--halls: two hubs need at least 2 halls to share');
  if (o.halls > 99) throw new Error('--halls: at most 99 (hall ids are at most 32 characters)');

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
    const shared: Shared = {
      pg: pgServer, broker, hubUser, hubKey: randomBytes(32).toString('hex'), root,
      postmaster: Number(fs.readFileSync(path.join(pgServer.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]),
      mosquittoPid: Number(fs.readFileSync(broker.pidFile, 'utf8').trim()),
    };
    // ABBA…: one, two, two, one, one, two, …
    const ones: PhaseResult[] = [];
    const twos: PhaseResult[] = [];
    const order: string[] = [];
    for (let i = 0; i < 2 * o.rounds; i++) {
      const two = i % 4 === 1 || i % 4 === 2;
      const n = (two ? twos : ones).length + 1;
      order.push(two ? 'two' : 'one');
      const label = `${two ? 'two hubs' : 'one hub'}, round ${n}/${o.rounds}`;
      (two ? twos : ones).push(await phase(shared, label, `${two ? 'two' : 'one'}${n}`, two ? 2 : 1, o));
    }
    const one = pool(ones);
    const two = pool(twos);
    const all = [...ones, ...twos];

    const ratio = two.rate / one.rate;
    const broken = all.flatMap((p) => p.exactlyOnce.filter((e) => e.missing || e.doubled || e.strangers).map((e) => `${p.label} ${e.hall}`));
    const wrong = all.reduce((n, p) => n + p.exactlyOnce.reduce((m, e) => m + e.missing + e.doubled + e.strangers, 0), 0);
    const counted = all.reduce((n, p) => n + p.exactlyOnce.reduce((m, e) => m + e.sent, 0), 0);
    const moved = twos.flatMap((p) => p.leasesMoved.map((h) => `${h} (${p.label})`));
    const notes = [
      two.timedOut ? `time limit: ${two.completed}/${two.planned} done` : undefined,
      one.timedOut ? `one hub time limit: ${one.completed}/${one.planned} done` : undefined,
      moved.length ? `leases moved while measuring: ${moved.join(', ')}` : undefined,
    ].filter(Boolean).join('; ') || undefined;
    // CPU the district's own parts spent per 1,000 committed events: robust to what else shares
    // the machine, and what a machine with more cores would have to give for the same rate.
    // X % of a core at R events/s is 10,000·X/R core-ms per 1,000 events.
    const hubPerK = (p: ReturnType<typeof pool>) => (10_000 * p.cpu.hubsPct.reduce((a, b) => a + b, 0)) / p.rate;
    const cpuPerK = (p: ReturnType<typeof pool>) => (10_000 * (p.cpu.hubsPct.reduce((a, b) => a + b, 0) + p.cpu.postgresPct + p.cpu.mosquittoPct)) / p.rate;
    const base = (name: string, value: number, unit: string) => ({ name: `one hub, ${o.halls} halls: ${name}`, value: round(value, unit === 'events/s' ? 0 : 2), unit });
    const placement = (p: PhaseResult) => [...new Set(p.placement.values())].map((h) => `${h}: ${[...p.placement].filter(([, x]) => x === h).map(([hall]) => hall).join(' ')}`).join('; ');
    const cores = os.cpus().length;
    const figures: Figure[] = [
      { name: `two hubs, ${o.halls} halls: committed events/s`, value: round(two.rate, 0), unit: 'events/s', baseline: base('committed events/s', one.rate, 'events/s'), note: notes },
      { name: 'two hubs: device → signed ack p50', value: round(two.p50), unit: 'ms', baseline: base('p50', one.p50, 'ms') },
      { name: 'two hubs: device → signed ack p99', value: round(two.p99), unit: 'ms', baseline: base('p99', one.p99, 'ms') },
      { name: 'scaling, two hubs ÷ one hub (committed events/s)', value: round(ratio), unit: '×', note: `${cores}-core machine ${two.cpu.machineBusyPct.toFixed(0)} % busy with two hubs, ${one.cpu.machineBusyPct.toFixed(0)} % with one` },
      { name: 'CPU per 1,000 committed events: hubs + PostgreSQL + Mosquitto', value: round(cpuPerK(two)), unit: 'core-ms', baseline: base('CPU per 1,000 events', cpuPerK(one), 'core-ms'), note: `hubs ${round(hubPerK(two))} core-ms against ${round(hubPerK(one))}` },
      { name: 'events not in their hall\'s ledger exactly once (all rounds)', value: wrong, unit: 'events', bar: { op: '<=', limit: 0, text: '0' }, note: broken.length ? `in ${broken.join(', ')}` : `${counted} events counted` },
    ];
    emit({
      bench: 'two-hubs', title: `District scaling: two hub processes against one, ${o.halls} halls on one PostgreSQL and one Mosquitto`, figures,
      config: {
        halls: o.halls, 'devices per hall': o.devices, 'in-flight window per device': o.window, 'measured events per hall per round': o.count, 'warm-up events per hall': o.warmup,
        rounds: `${o.rounds} of each, in the order ${order.join(', ')}`,
        'rates per round, events/s': `one hub ${ones.map((p) => Math.round(p.rate)).join(', ')}; two hubs ${twos.map((p) => Math.round(p.rate)).join(', ')}`,
        event: 'state (signed, ledgered, not queued)', QoS: 1, 'resend after ms': o.resendAfter,
        database: 'PostgreSQL 15, one cluster (fsync=off, synchronous_commit=on per database)', broker: 'Mosquitto 2, one',
        'lease ttl/renew/poll': `${LEASE.ttl} s / ${LEASE.renew} s / ${LEASE.poll} ms`, cores,
        'placement, one hub': placement(ones[0]), 'placement, two hubs': placement(twos[0]),
        'CPU while measuring, one hub (% of one core)': describeCpu(one.cpu), 'CPU while measuring, two hubs (% of one core)': describeCpu(two.cpu),
        'resent events': `${ones.reduce((n, p) => n + p.resent, 0)} (one hub), ${twos.reduce((n, p) => n + p.resent, 0)} (two hubs)`,
      },
      notes: [
        `On this ${cores}-core machine the two hubs share the same cores with PostgreSQL, Mosquitto and the bench's devices, so the scaling ratio is bounded by the machine, not only by the design: in a district each hub has its own machine, and PostgreSQL and the broker theirs. The CPU split in the configuration shows where the cores went (other processes: whatever else ran on the machine meanwhile).`,
        'Each round runs on a fresh database of the same PostgreSQL cluster with its own hall names; rounds go one, two, two, one, … so drift in the machine\'s load falls on both kinds alike; rates are pooled over the rounds of a kind, percentiles over all their samples.',
        'PostgreSQL here is the throwaway bench cluster with fsync=off: commits pay WAL writes but no disk flush, so these rates are CPU-bound; on a disk-backed district each commit also waits for a flush.',
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
