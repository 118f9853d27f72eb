/**
 * Ingest benchmark, run on demand (never by the tests):
 *   npx tsx bench/ingest.ts [--devices 20] [--window 8] [--count 60000] [--rounds 5] [--only aedes|mosquitto]
 *
 * For each broker (the hub's embedded Aedes; an external Mosquitto 2) in one run:
 *   raw relay  MQTT.js publishers send QoS 1 messages to one MQTT.js subscriber through the
 *              broker (the hub's own broker and login, on topics the hub does not read);
 *              latency = publish → the subscriber receives it.
 *   hub ingest MQTT.js devices publish signed `state` events, one per QoS 1 message, to the
 *              hub; latency = publish → the hub's signed ack for that event is received and
 *              verified by the device (two broker hops plus a committed transaction).
 * Same client library, same payload size (the signed line; raw payloads padded to it), same
 * number of senders, same in-flight window per sender, same count. Events are signed before
 * the clock starts, so both sides pay the same on the client.
 *
 * The two alternate, raw then hub, for --rounds rounds on the same connections, and each
 * figure is the median over the rounds: on a shared 2-core machine the raw relay alone moved
 * between 20,000 and 44,000 msg/s from one run to the next, so a single pair could land on
 * either side of the bar by luck. Each round's own hub ÷ raw ratio is reported too.
 */

import { Command } from 'commander';
import mqtt, { type MqttClient } from 'mqtt';
import { BenchHub } from './support/hub.js';
import { FakeDevice, healthBody } from '../support/device.js';
import { ClosedLoop, type LoopResult } from './support/loop.js';
import { emit, log, percentile, round, type Figure } from './support/result.js';
import { TOPIC_ROOT } from '../firmware/core/protocol.js';

interface Options { devices: number; window: number; count: number; warmup: number; rounds: number; timeLimit: number; only?: string }

interface Measured { rate: number; p50: number; p99: number; completed: number; planned: number; timedOut: boolean }
/** What the hub did for the measured events: its CPU, its transactions and its ack messages. */
interface HubWork { cpuPerEventUs: number; mainThreadPerEventUs: number; eventsPerTransaction: number; ackMessagesPerEvent: number; commitMs: number }

function measure(r: LoopResult): Measured {
  return {
    rate: r.completed / (r.elapsedMs / 1000), p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99),
    completed: r.completed, planned: r.planned, timedOut: r.timedOut,
  };
}

async function connectHubUser(hub: BenchHub, clientId: string): Promise<MqttClient> {
  const client = mqtt.connect(hub.mqttUrl, { ...hub.hubUser, clientId, clean: true, reconnectPeriod: 1000, connectTimeout: 30_000 });
  client.on('connect', () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true)); // as FakeDevice
  await new Promise<void>((resolve, reject) => { client.once('connect', () => resolve()); client.once('error', reject); });
  return client;
}

/** Raw QoS 1 relay through the broker: publishers → one subscriber, connected once for all rounds. */
async function rawRelay(hub: BenchHub, o: Options, size: number, label: string): Promise<{ round(r: number): Promise<Measured>; close(): Promise<void> }> {
  const topic = (s: number) => `${TOPIC_ROOT}/${hub.site}/relay-${s}/cmd`;
  const subscriber = await connectHubUser(hub, `bench-sub-${process.pid}`);
  await subscriber.subscribeAsync(`${TOPIC_ROOT}/${hub.site}/+/cmd`, { qos: 1 });
  const publishers: MqttClient[] = [];
  for (let s = 0; s < o.devices; s++) publishers.push(await connectHubUser(hub, `bench-pub-${s}-${process.pid}`));
  const payload = (s: number, k: number) => { const head = `${s}:${k}:`; return head + 'x'.repeat(Math.max(0, size - head.length)); };
  let loop: ClosedLoop | undefined;
  subscriber.on('message', (_t, message) => {
    const at = performance.now();
    const text = message.toString('latin1', 0, 24);
    const a = text.indexOf(':');
    const b = text.indexOf(':', a + 1);
    loop?.complete(Number(text.slice(0, a)), Number(text.slice(a + 1, b)), at);
  });
  const send = (s: number, k: number) => publishers[s].publish(topic(s), payload(s, k), { qos: 1 });
  const warm = Math.ceil(o.warmup / o.devices);
  const perRound = Math.ceil(o.count / o.devices);
  loop = new ClosedLoop(o.devices, o.window, 0, warm, send);
  await loop.run(o.timeLimit * 1000, `${label} raw relay warm-up`);
  return {
    round: async (r) => {
      loop = new ClosedLoop(o.devices, o.window, warm + r * perRound, perRound, send);
      return measure(await loop.run(o.timeLimit * 1000, `${label} raw relay, round ${r + 1}`));
    },
    close: async () => {
      for (const p of publishers) await p.endAsync(true);
      await subscriber.endAsync(true);
    },
  };
}

/** Devices publish signed events to the hub; warmed up once, then measured round by round. */
async function hubIngest(hub: BenchHub, devices: FakeDevice[], lines: string[][], o: Options, label: string): Promise<(r: number) => Promise<Measured & HubWork>> {
  let loop: ClosedLoop | undefined;
  devices.forEach((d, s) => { d.onAck = (item, at) => { if (item.verdict === 'committed') loop?.complete(s, item.seq - 1, at); else throw new Error(`${d.id} seq ${item.seq} refused: ${item.reason}`); }; });
  const send = (s: number, k: number) => { void devices[s].publish(lines[s][k]); };
  const warm = Math.ceil(o.warmup / o.devices);
  const perRound = Math.ceil(o.count / o.devices);
  loop = new ClosedLoop(o.devices, o.window, 0, warm, send);
  await loop.run(o.timeLimit * 1000, `${label} hub warm-up`);
  return async (r) => {
    loop = new ClosedLoop(o.devices, o.window, warm + r * perRound, perRound, send);
    const before = { cpu: hub.cpuSeconds(), metrics: await hub.metricSums() };
    const measured = measure(await loop.run(o.timeLimit * 1000, `${label} hub ingest, round ${r + 1}`));
    const after = { cpu: hub.cpuSeconds(), metrics: await hub.metricSums() };
    const delta = (name: string) => (after.metrics.get(name) ?? 0) - (before.metrics.get(name) ?? 0);
    return {
      ...measured,
      cpuPerEventUs: ((after.cpu.all - before.cpu.all) * 1e6) / measured.completed,
      mainThreadPerEventUs: ((after.cpu.main - before.cpu.main) * 1e6) / measured.completed,
      eventsPerTransaction: delta('sannuo_batch_events_sum') / Math.max(1, delta('sannuo_batch_events_count')),
      ackMessagesPerEvent: delta('sannuo_acks_sent_total') / Math.max(1, delta('sannuo_batch_events_sum')),
      commitMs: (1000 * delta('sannuo_commit_seconds_sum')) / Math.max(1, delta('sannuo_commit_seconds_count')),
    };
  };
}

/** The median of each field over the rounds (a field at a time). */
function medianOf<T extends object>(rounds: T[]): T {
  const out = { ...rounds[0] } as Record<string, unknown>;
  for (const [k, v] of Object.entries(rounds[0])) {
    if (typeof v === 'number') out[k] = percentile(rounds.map((r) => (r as Record<string, number>)[k]), 50);
    else if (typeof v === 'boolean') out[k] = rounds.some((r) => (r as Record<string, boolean>)[k]);
  }
  return out as T;
}

async function runBroker(broker: 'embedded' | 'mosquitto', o: Options): Promise<{ figures: Figure[]; config: Record<string, unknown> }> {
  const label = broker === 'embedded' ? 'Aedes' : 'Mosquitto';
  const hub = new BenchHub({ broker });
  await hub.start();
  try {
    const configs = await hub.provisionMany(Array.from({ length: o.devices }, (_, i) => ({ role: 'pad' as const, win: `L${i}`, id: `ingest-${i}` })));
    const devices = configs.map((c) => new FakeDevice(c, { track: false }));
    // Mosquitto learns new passwords on the hub's SIGHUP; retry until the login works.
    for (const d of devices) {
      for (let attempt = 0; ; attempt++) {
        try { await d.connect(hub.mqttUrl, { reconnectPeriod: 0, connectTimeout: 5000, will: false }); break; } catch (error) {
          if (attempt > 50) throw error;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
    const perSender = Math.ceil(o.warmup / o.devices) + o.rounds * Math.ceil(o.count / o.devices);
    const t = Date.now();
    const lines = devices.map((d) => Array.from({ length: perSender }, (_, k) => d.sign('state', healthBody(k), t + k)));
    const size = Math.max(...lines.map((l) => Math.max(...l.map((x) => Buffer.byteLength(x)))));

    const relay = await rawRelay(hub, o, size, label);
    const ingest = await hubIngest(hub, devices, lines, o, label);
    const raws: Measured[] = [];
    const ings: (Measured & HubWork)[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const raw = await relay.round(r);
      log(`${label} raw relay, round ${r + 1}: ${Math.round(raw.rate)} msg/s, p50 ${raw.p50.toFixed(2)} ms, p99 ${raw.p99.toFixed(2)} ms`);
      const ing = await ingest(r);
      log(`${label} hub ingest, round ${r + 1}: ${Math.round(ing.rate)} events/s (${(ing.rate / raw.rate).toFixed(2)}× raw), p50 ${ing.p50.toFixed(2)} ms, p99 ${ing.p99.toFixed(2)} ms; hub CPU ${ing.cpuPerEventUs.toFixed(1)} µs/event (main thread ${ing.mainThreadPerEventUs.toFixed(1)}), ${ing.eventsPerTransaction.toFixed(1)} events/transaction, ${ing.ackMessagesPerEvent.toFixed(2)} ack messages/event, ${ing.commitMs.toFixed(2)} ms per commit`);
      raws.push(raw);
      ings.push(ing);
    }
    await relay.close();
    const raw = medianOf(raws);
    const ing = medianOf(ings);
    const ratios = ings.map((x, r) => round(x.rate / raws[r].rate));
    const memory = hub.memory();
    for (const d of devices) await d.close();
    const rawBase = (name: string, value: number, unit: string) => ({ name: `${label} raw QoS 1 relay ${name}`, value: round(value), unit });
    const truncated = (m: Measured) => (m.timedOut ? `time limit: ${m.completed}/${m.planned} done` : undefined);
    return {
      config: {
        [`${label} hub ÷ raw rate by round`]: ratios.join(', '),
        [`${label} payload bytes`]: size, [`${label} hub peak RSS MiB`]: round(memory.peakMiB, 0),
        [`${label} hub CPU µs per event`]: round(ing.cpuPerEventUs, 1), [`${label} hub main thread CPU µs per event`]: round(ing.mainThreadPerEventUs, 1), [`${label} events per transaction`]: round(ing.eventsPerTransaction, 1),
        [`${label} ack messages per event`]: round(ing.ackMessagesPerEvent, 2), [`${label} mean commit ms (transaction start → durable)`]: round(ing.commitMs, 2),
      },
      figures: [
        { name: `${label}: hub ingest rate`, value: round(ing.rate, 0), unit: 'events/s', baseline: rawBase('rate', raw.rate, 'msg/s'), bar: { op: '>=', limit: round(raw.rate / 2, 0), text: '≥ ½ raw rate' }, note: truncated(ing) ?? truncated(raw) },
        { name: `${label}: device → signed ack p50`, value: round(ing.p50), unit: 'ms', baseline: rawBase('p50 (publish → subscriber)', raw.p50, 'ms') },
        { name: `${label}: device → signed ack p99`, value: round(ing.p99), unit: 'ms', baseline: rawBase('p99 (publish → subscriber)', raw.p99, 'ms'), bar: { op: '<=', limit: round(raw.p99 * 3), text: '≤ 3 × raw p99' } },
      ],
    };
  } finally {
    await hub.stop();
  }
}

async function main(): Promise<void> {
  const o = new Command()
    .option('--devices <n>', 'publishing clients (devices / raw publishers)', (v) => Number.parseInt(v, 10), 20)
    .option('--window <n>', 'messages in flight per client', (v) => Number.parseInt(v, 10), 8)
    .option('--count <n>', 'measured messages per run', (v) => Number.parseInt(v, 10), 60_000)
    .option('--warmup <n>', 'messages before the clock starts', (v) => Number.parseInt(v, 10), 20_000)
    .option('--rounds <n>', 'raw and hub runs, alternating; figures are medians over them', (v) => Number.parseInt(v, 10), 5)
    .option('--time-limit <s>', 'seconds per measured run at most', (v) => Number.parseInt(v, 10), 90)
    .option('--only <broker>', 'aedes or mosquitto')
    .parse()
    .opts<Options>();
  const figures: Figure[] = [];
  const config: Record<string, unknown> = { devices: o.devices, 'in-flight window per client': o.window, 'measured messages per round': o.count, rounds: `${o.rounds} (raw and hub alternating; figures are medians)`, warmup: o.warmup, QoS: 1, 'events per message': 1, event: 'state (signed, ledgered, not queued)', database: 'SQLite' };
  for (const broker of ['embedded', 'mosquitto'] as const) {
    if (o.only && o.only !== (broker === 'embedded' ? 'aedes' : 'mosquitto')) continue;
    const r = await runBroker(broker, o);
    figures.push(...r.figures);
    Object.assign(config, r.config);
  }
  emit({
    bench: 'ingest', title: 'Ingest throughput and device → ack latency against the raw broker relay', figures, config,
    notes: ['Raw relay latency is publish → subscriber receipt (one broker hop); hub latency is device publish → the hub\'s signed ack received by the device (broker → hub → commit → broker → device).'],
  });
}

main().then(() => process.exit(0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
