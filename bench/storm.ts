/**
 * Reconnect storm, run on demand (never by the tests):
 *   npx tsx bench/storm.ts [--devices 5000] [--events 100] [--time-limit 180]
 *
 * 5,000 provisioned devices, each holding 100 signed, unsent events, connect to the hub at
 * the same moment and send them all: pre-signed batches (≤ 32 lines, ≤ 16 KiB per payload,
 * QoS 1) from raw MQTT.js clients, right after subscribing to their ack topic. A device
 * resends what is still unacked every --resend seconds, as the firmware's uplink does.
 * Figures: time from the first connect to the last signed ack; the hub's peak RSS
 * (VmHWM of its process); and, from the database after a graceful stop, that every event
 * is committed exactly once (ledger rows and event rows, distinct per (dev, boot, seq)).
 */

import path from 'node:path';
import { Command } from 'commander';
import { openSqlite } from '../hub/db/sqlite.js';
import { MAX_BATCH_BYTES, MAX_BATCH_EVENTS } from '../firmware/core/protocol.js';
import { BenchHub } from './support/hub.js';
import { FakeDevice, healthBody } from '../support/device.js';
import { emit, log, Progress, round, sleep } from './support/result.js';

interface Options { devices: number; events: number; timeLimit: number; resend: number }

/** Packs lines into payloads of at most MAX_BATCH_EVENTS lines and MAX_BATCH_BYTES bytes. */
function batches(lines: string[]): string[] {
  const out: string[] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const line of lines) {
    const size = Buffer.byteLength(line) + 1;
    if (current.length && (current.length === MAX_BATCH_EVENTS || bytes + size > MAX_BATCH_BYTES)) {
      out.push(current.join('\n'));
      current = [];
      bytes = 0;
    }
    current.push(line);
    bytes += size;
  }
  if (current.length) out.push(current.join('\n'));
  return out;
}

async function main(): Promise<void> {
  const o = new Command()
    .option('--devices <n>', 'devices reconnecting at once', (v) => Number.parseInt(v, 10), 5_000)
    .option('--events <n>', 'unsent events each device holds', (v) => Number.parseInt(v, 10), 100)
    .option('--time-limit <s>', 'seconds to wait for every ack at most', (v) => Number.parseInt(v, 10), 180)
    .option('--resend <s>', 'a device resends what is unacked after this many seconds', (v) => Number.parseInt(v, 10), 20)
    .parse()
    .opts<Options>();
  const total = o.devices * o.events;
  const hub = new BenchHub({ broker: 'embedded' });
  await hub.start();
  let stopped = false;
  try {
    const progress = new Progress('storm provisioning');
    const configs = await hub.provisionMany(
      Array.from({ length: o.devices }, (_, i) => ({ role: 'pad' as const, win: `S${i % 500}`, id: `storm-${i}` })),
      (n) => progress.update(`${n}/${o.devices} devices`),
    );
    progress.done(`${o.devices} devices provisioned`);
    const devices = configs.map((c) => new FakeDevice(c, { track: false }));
    const t = Date.now() - 3_600_000; // events written during the last hour offline
    const signing = new Progress('storm signing');
    const unacked = devices.map((d, i) => {
      const m = new Map<number, string>();
      for (let k = 0; k < o.events; k++) { const line = d.sign('state', healthBody(k), t + k * 1000); m.set(d.seq, line); }
      signing.update(`${(i + 1) * o.events}/${total} events signed`);
      return m;
    });
    signing.done(`${total} events signed`);
    const before = hub.memory();

    let acked = 0;
    let duplicateAcks = 0;
    let refused = 0;
    let connected = 0;
    let resentLines = 0;
    let lastAck = 0;
    devices.forEach((d, i) => {
      d.onAck = (item, at) => {
        if (unacked[i].delete(item.seq)) {
          acked++;
          lastAck = at;
          if (item.verdict !== 'committed') refused++;
        } else duplicateAcks++;
      };
    });

    const started = performance.now();
    const deadline = Date.now() + o.timeLimit * 1000;
    // Everyone at once: connect, subscribe, send everything held.
    let connectRetries = 0;
    const sends = devices.map(async (d, i) => {
      // A refused or reset first connect (the listen backlog overflows in a storm) is retried
      // after a second, as the firmware's reconnect does.
      for (;;) {
        try {
          await d.connect(hub.mqttUrl, { reconnectPeriod: 1000, connectTimeout: 60_000, will: false });
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          connectRetries++;
          await sleep(1000);
        }
      }
      connected++;
      for (const payload of batches([...unacked[i].values()])) void d.publish(payload).catch(() => undefined);
    });
    for (const p of sends) p.catch(() => undefined); // counted through `connected`
    const watch = new Progress('storm');
    let nextResend = Date.now() + o.resend * 1000;
    while (acked < total && Date.now() < deadline) {
      await sleep(250);
      let mem: ReturnType<BenchHub['memory']>;
      try {
        mem = hub.memory();
      } catch {
        await sleep(500); // let its last words arrive
        throw new Error(`the hub exited during the storm; the end of its log:\n${hub.log().slice(-4000)}`);
      }
      watch.update(`${connected}/${o.devices} connected, ${acked}/${total} acked, ${((performance.now() - started) / 1000).toFixed(1)} s, hub RSS ${mem.rssMiB.toFixed(0)} MiB`);
      if (Date.now() >= nextResend) {
        nextResend = Date.now() + o.resend * 1000;
        devices.forEach((d, i) => {
          if (!d.client?.connected || unacked[i].size === 0) return;
          const lines = [...unacked[i].values()];
          resentLines += lines.length;
          for (const payload of batches(lines)) void d.publish(payload).catch(() => undefined);
        });
      }
    }
    const seconds = ((lastAck || performance.now()) - started) / 1000;
    watch.done(`${acked}/${total} acked in ${seconds.toFixed(1)} s${acked < total ? ' (time limit)' : ''}`);
    await Promise.race([Promise.allSettled(sends), sleep(1000)]);
    if (connected < o.devices) log(`storm: only ${connected}/${o.devices} devices connected (${connectRetries} connect retries)`);
    const memory = hub.memory();
    await Promise.all(devices.map((d) => d.close().catch(() => undefined)));

    await hub.stop(true);
    stopped = true;
    const db = await openSqlite(path.join(hub.data, 'sannuo.db'));
    let ledgerRows = 0, ledgerDistinct = 0, eventRows = 0;
    try {
      const l = await db.get<{ n: number; d: number }>(`SELECT COUNT(*) AS n, COUNT(DISTINCT dev || ':' || boot || ':' || seq) AS d FROM ledger WHERE kind = 'event' AND dev LIKE 'storm-%'`);
      // Seqs decided per the dedupe marks (every storm device numbers its events 1..n, no gaps), less refusals.
      const e = await db.get<{ n: number }>(`SELECT COALESCE(SUM(upto), 0) - (SELECT COUNT(*) FROM refusals WHERE dev LIKE 'storm-%') AS n FROM event_marks WHERE dev LIKE 'storm-%' AND gaps = ''`);
      ledgerRows = Number(l!.n);
      ledgerDistinct = Number(l!.d);
      eventRows = Number(e!.n);
    } finally {
      await db.close();
      hub.removeData();
    }
    log(`storm: ledger ${ledgerRows} event rows (${ledgerDistinct} distinct), dedupe marks ${eventRows} committed, duplicate acks ${duplicateAcks}, lines resent ${resentLines}`);
    emit({
      bench: 'storm', title: `Reconnect storm: ${o.devices.toLocaleString('en')} devices × ${o.events} unsent events`,
      figures: [
        { name: 'all events acked (first connect → last ack)', value: round(seconds, 1), unit: 's', bar: { op: '<', limit: 60, text: '< 60 s' }, note: acked < total ? `only ${acked}/${total} acked within ${o.timeLimit} s` : undefined },
        { name: 'events committed exactly once', value: ledgerDistinct === ledgerRows && eventRows === ledgerRows ? ledgerRows : -1, unit: 'events', bar: { op: '>=', limit: total, text: `= ${total.toLocaleString('en')}` }, note: `ledger rows ${ledgerRows}, distinct ${ledgerDistinct}, committed per the dedupe marks ${eventRows}` },
        { name: 'hub peak RSS (VmHWM)', value: round(memory.peakMiB, 0), unit: 'MiB', bar: { op: '<', limit: 512, text: '< 512 MB' }, note: `${round(before.peakMiB, 0)} MiB before the storm` },
        { name: 'storm ingest rate', value: round(acked / seconds, 0), unit: 'events/s' },
      ],
      config: { devices: o.devices, 'events per device': o.events, 'batch': `≤ ${MAX_BATCH_EVENTS} events, ≤ ${MAX_BATCH_BYTES} bytes`, broker: 'embedded Aedes', database: 'SQLite', 'resend after s': o.resend, 'refused verdicts': refused, 'duplicate acks': duplicateAcks, 'lines resent': resentLines, 'connect retries': connectRetries },
    });
  } finally {
    if (!stopped) await hub.stop();
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
