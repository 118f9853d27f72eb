/**
 * Call → display latency, run on demand (never by the tests):
 *   npx tsx bench/call-latency.ts [--windows 4] [--calls 200] [--load 500] [--pads 20]
 *
 * A window's display device publishes a signed `call` event (staff pressed next); the time
 * until its signed `display` command for that call (chime on) arrives and verifies. Measured
 * first on an idle hub (the baseline), then with `--load` events/s of signed `state` events
 * streaming in from other devices beside it. One call at a time per window, a short random
 * pause between calls, as staff would press.
 */

import { Command } from 'commander';
import { BenchHub } from './support/hub.js';
import { FakeDevice, healthBody } from '../support/device.js';
import { emit, log, percentile, Progress, round, sleep, type Figure } from './support/result.js';

interface Options { windows: number; calls: number; load: number; pads: number; timeLimit: number }

const CALL_TIMEOUT = 10_000; // ms: a call not answered by then counts as lost

async function callRound(displays: FakeDevice[], callsPerWindow: number, label: string, deadline: number): Promise<{ latencies: number[]; lost: number }> {
  const latencies: number[] = [];
  let lost = 0;
  const progress = new Progress(label);
  const total = callsPerWindow * displays.length;
  await Promise.all(displays.map(async (d) => {
    for (let i = 0; i < callsPerWindow && Date.now() < deadline; i++) {
      const line = d.sign('call', { win: d.config.win, staff: null });
      const answered = new Promise<number | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), CALL_TIMEOUT);
        d.onCommand = (command, at) => {
          if (command.type === 'display' && command.body.chime) { clearTimeout(timer); resolve(at); }
        };
      });
      const sent = performance.now();
      await d.publish(line);
      const at = await answered;
      if (at === undefined) lost++;
      else latencies.push(at - sent);
      progress.update(`${latencies.length + lost}/${total} calls`);
      await sleep(20 + Math.random() * 40);
    }
  }));
  progress.done(`${latencies.length}/${total} calls answered, p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`);
  return { latencies, lost };
}

async function main(): Promise<void> {
  const o = new Command()
    .option('--windows <n>', 'windows calling at once', (v) => Number.parseInt(v, 10), 4)
    .option('--calls <n>', 'calls measured under load (half as many idle)', (v) => Number.parseInt(v, 10), 200)
    .option('--load <n>', 'background events per second', (v) => Number.parseInt(v, 10), 500)
    .option('--pads <n>', 'devices making the background load', (v) => Number.parseInt(v, 10), 20)
    .option('--time-limit <s>', 'seconds per phase at most', (v) => Number.parseInt(v, 10), 120)
    .parse()
    .opts<Options>();
  const perWindowLoaded = Math.ceil(o.calls / o.windows);
  const perWindowIdle = Math.ceil(perWindowLoaded / 2);
  const hub = new BenchHub({ broker: 'embedded' });
  await hub.start();
  try {
    const wins = Array.from({ length: o.windows }, (_, i) => `W${i + 1}`);
    log(`call-latency: setting up ${o.windows} windows and ${(perWindowIdle + perWindowLoaded) * o.windows + 20} tickets`);
    await hub.setUpHall(wins, (perWindowIdle + perWindowLoaded) * o.windows + 20);
    const displays = (await hub.provisionMany(wins.map((win, i) => ({ role: 'display' as const, win, id: `disp-${i + 1}` })))).map((c) => new FakeDevice(c, { track: false }));
    const pads = (await hub.provisionMany(Array.from({ length: o.pads }, (_, i) => ({ role: 'pad' as const, win: `L${i}`, id: `load-${i}` })))).map((c) => new FakeDevice(c, { track: false }));
    for (const d of [...displays, ...pads]) await d.connect(hub.mqttUrl, { reconnectPeriod: 1000, connectTimeout: 30_000, will: false });

    const idle = await callRound(displays, perWindowIdle, 'call-latency idle', Date.now() + o.timeLimit * 1000);

    // Background load: each pad sends on its own timer, open loop, so the rate does not bend to the hub.
    let loadSent = 0;
    let loadAcked = 0;
    const loadLatencies: number[] = [];
    const sentAt = pads.map(() => new Map<number, number>());
    pads.forEach((p, i) => { p.onAck = (item, at) => { const t = sentAt[i].get(item.seq); if (t !== undefined) { sentAt[i].delete(item.seq); loadAcked++; loadLatencies.push(at - t); } }; });
    const period = (o.pads * 1000) / o.load; // ms between one pad's events
    const timers = pads.map((p, i) => setInterval(() => {
      const line = p.sign('state', healthBody(p.seq));
      const seq = p.seq;
      sentAt[i].set(seq, performance.now());
      loadSent++;
      void p.publish(line);
    }, period));
    const loadStart = performance.now();
    await sleep(2000); // let the load settle before measuring
    const loaded = await callRound(displays, perWindowLoaded, `call-latency under ${o.load} events/s`, Date.now() + o.timeLimit * 1000);
    const loadSeconds = (performance.now() - loadStart) / 1000;
    for (const t of timers) clearInterval(t);
    const achieved = loadAcked / loadSeconds;
    log(`call-latency: background load ${Math.round(loadSent / loadSeconds)} sent/s, ${Math.round(achieved)} acked/s, ack p99 ${percentile(loadLatencies, 99).toFixed(1)} ms`);
    const memory = hub.memory();
    for (const d of [...displays, ...pads]) await d.close();

    const figures: Figure[] = [
      { name: 'call → display p50 under load', value: round(percentile(loaded.latencies, 50)), unit: 'ms', baseline: { name: 'idle hub p50', value: round(percentile(idle.latencies, 50)), unit: 'ms' } },
      { name: 'call → display p99 under load', value: round(percentile(loaded.latencies, 99)), unit: 'ms', baseline: { name: 'idle hub p99', value: round(percentile(idle.latencies, 99)), unit: 'ms' }, bar: { op: '<', limit: 20, text: '< 20 ms on loopback' } },
      { name: 'calls unanswered within 10 s', value: loaded.lost + idle.lost, unit: 'calls', bar: { op: '<=', limit: 0, text: 'none' } },
      { name: 'background load acked', value: round(achieved, 0), unit: 'events/s', note: `offered ${o.load}/s; its ack p99 ${round(percentile(loadLatencies, 99), 1)} ms` },
    ];
    emit({
      bench: 'call-latency', title: 'Call → display latency under ingest load', figures,
      config: { windows: o.windows, 'calls idle': idle.latencies.length + idle.lost, 'calls under load': loaded.latencies.length + loaded.lost, 'background devices': o.pads, 'background events/s offered': o.load, broker: 'embedded Aedes', database: 'SQLite', 'hub peak RSS MiB': round(memory.peakMiB, 0) },
      notes: ['Latency = display device publishes its signed call → its signed display command (chime on) arrives and verifies; one call in flight per window.'],
    });
  } finally {
    await hub.stop();
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
