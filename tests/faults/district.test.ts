/**
 * The district under faults: three hubs (each its own process) share three halls through
 * leases on one PostgreSQL and one Mosquitto; devices with outboxes stream events (pads:
 * state reports; displays: calls against each hall's queue). While events are in flight:
 * a hub serving halls is SIGKILLed (others take its halls over, it comes back and halls spread
 * again), the broker is killed and restarted, PostgreSQL is restarted, and devices lose power
 * at random. Then: every event committed exactly once in its hall's chain, every device's
 * every event acked, each hall's queue moved exactly by its committed calls, and every hall's
 * chain verifies (Ledger.verify, and the holder's /api/ledger/verify).
 */

import path from 'node:path';
import fs from 'node:fs';
import { District, OutboxDevice, sleep } from './district.js';
import { openPostgres } from '../../hub/db/postgres.js';
import { Ledger } from '../../hub/ledger/ledger.js';
import { hallDbUrl } from '../../hub/district/lease.js';
import type { DeviceConfig } from '../../firmware/core/config.js';

jest.setTimeout(300_000);

const HALLS = ['hall-a', 'hall-b', 'hall-c'];
const TICKETS = 150;
const district = new District(HALLS);
const devices: OutboxDevice[] = [];
const log: string[] = [];
const note = (line: string) => { log.push(`${new Date().toISOString().slice(11, 23)} ${line}`); if (process.env.SANNUO_FAULT_LOG) fs.appendFileSync(process.env.SANNUO_FAULT_LOG, log[log.length - 1] + "\n"); };

let running = false;
afterAll(async () => {
  running = false;
  for (const d of devices) d.powered = false;
  await sleep(1500); // a power cut under way finishes its reboot
  for (const d of devices) await d.close().catch(() => undefined);
  await district.stop();
});

/** Events of these devices sent and not yet acked. */
const inFlight = (of: OutboxDevice[] = devices) => of.reduce((n, d) => n + d.unacked.size, 0);

async function metric(hubId: string, name: string): Promise<number> {
  const text = await fetch(`${district.hub(hubId).http}/metrics`).then((r) => r.text());
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) sum += Number(line.split(' ').pop());
  return sum;
}

test('SIGKILLed hub, restarted broker, restarted PostgreSQL, power cuts: zero lost, zero doubled, every chain verifies', async () => {
  await district.start(['hub-1', 'hub-2', 'hub-3']);
  let held = await district.allHeld();
  note(`halls held: ${JSON.stringify([...held])}`);

  // Each hall: its queue set up through the hub serving it, a display and two pads.
  for (const hall of HALLS) {
    await district.hallApi(hall, 'PUT', '/api/queue/departments/D1', { name: '市场监管' });
    await district.hallApi(hall, 'PUT', '/api/queue/items/I1', { name: '营业执照', department: 'D1', prefix: 'A', limitDays: 0 });
    await district.hallApi(hall, 'PUT', '/api/queue/windows/W1', { name: '一号窗口', items: ['I1'] });
    await district.hallApi(hall, 'PUT', '/api/queue/staff/s1', { name: '张三', department: 'D1' });
    await district.hallApi(hall, 'POST', '/api/queue/windows/W1/sign-in', { staff: 's1' });
    for (let i = 0; i < TICKETS; i++) await district.hallApi(hall, 'POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' });
    const configs = [
      await district.hallApi<DeviceConfig>(hall, 'POST', '/api/devices', { role: 'display', win: 'W1', id: `${hall}-disp` }),
      await district.hallApi<DeviceConfig>(hall, 'POST', '/api/devices', { role: 'pad', win: 'P1', id: `${hall}-pad1` }),
      await district.hallApi<DeviceConfig>(hall, 'POST', '/api/devices', { role: 'pad', win: 'P2', id: `${hall}-pad2` }),
    ];
    expect(configs.every((c) => c.site === hall)).toBe(true);
    for (const c of configs) devices.push(new OutboxDevice(c, hall));
  }
  for (const d of devices) await d.start(district.broker.url);
  note('devices connected');

  // The load: pads report state often, displays call; every device resends what is unacked.
  running = true;
  const calls = new Map(HALLS.map((h) => [h, 0]));
  const load = (async () => {
    let tick = 0;
    while (running) {
      tick++;
      for (const d of devices) {
        if (d.config.role === 'pad') d.emit('state', { bat: 80, rssi: -60, heap: 90_000, up: tick, outbox: d.unacked.size, refused: 0, dropped: 0 });
        else if (tick % 4 === 0 && calls.get(d.hall)! < TICKETS - 10) {
          calls.set(d.hall, calls.get(d.hall)! + 1);
          d.emit('call', { win: 'W1', staff: null });
        }
      }
      if (tick % 10 === 0) for (const d of devices) await d.resend();
      await sleep(100);
    }
  })();
  // Power cuts at random, all through the run.
  let cutsInFlight = 0;
  const cuts = (async () => {
    while (running) {
      await sleep(1500 + Math.random() * 1500);
      if (!running) break;
      const d = devices[Math.floor(Math.random() * devices.length)];
      if (!d.powered) continue;
      if (d.unacked.size > 0) cutsInFlight++;
      note(`power cut ${d.config.id} with ${d.unacked.size} unacked`);
      void d.powerCut(300 + Math.random() * 1200);
    }
  })();
  const waitInFlight = async (of: OutboxDevice[], what: string) => {
    const deadline = Date.now() + 20_000;
    while (inFlight(of) === 0) {
      if (Date.now() > deadline) throw new Error(`no events in flight before ${what}`);
      await sleep(20);
    }
  };
  const settleSome = async (ms: number) => { await sleep(ms); };
  await settleSome(3000);

  // Halls spread over the hubs (a hub that started first gives halls back to the others).
  const spreadBy = Date.now() + 60_000;
  while (new Set((held = await district.allHeld()).values()).size < HALLS.length) {
    if (Date.now() > spreadBy) throw new Error(`halls did not spread over the hubs: ${JSON.stringify([...held])}`);
    await sleep(300);
  }
  note(`halls spread: ${JSON.stringify([...held])}`);

  // 1. SIGKILL the hub serving hall-a, under load.
  const victim = held.get('hall-a')!;
  const victimHalls = [...held].filter(([, h]) => h === victim).map(([hall]) => hall);
  const victimDevices = devices.filter((d) => victimHalls.includes(d.hall));
  await waitInFlight(victimDevices, 'the hub kill');
  const atKill = inFlight(victimDevices);
  await district.hub(victim).kill();
  note(`SIGKILL ${victim} (serving ${victimHalls.join(', ')}) with ${atKill} events of its halls in flight`);
  expect(atKill).toBeGreaterThan(0);
  held = await district.allHeld(60_000, victim);
  note(`after takeover: ${JSON.stringify([...held])}`);
  for (const hall of victimHalls) expect(held.get(hall)).not.toBe(victim);
  const survivors = [...district.hubs.keys()].filter((h) => h !== victim);
  // The takeover counter is bumped once the new holder serves the hall; give it a moment.
  let takeovers = 0;
  for (let i = 0; i < 50 && takeovers < victimHalls.length; i++) {
    takeovers = 0;
    for (const h of survivors) takeovers += await metric(h, 'sannuo_lease_taken_total{how="takeover"}');
    if (takeovers < victimHalls.length) await sleep(200);
  }
  expect(takeovers).toBe(victimHalls.length);
  await settleSome(2000);
  // It comes back; halls spread again (a graceful handover, under load).
  await district.startHub(victim);
  note(`${victim} restarted`);
  await settleSome(3000);

  // 2. The broker dies and comes back.
  await waitInFlight(devices, 'the broker restart');
  const atBroker = inFlight();
  await district.restartBroker(1000);
  note(`broker SIGKILLed and restarted with ${atBroker} events in flight`);
  expect(atBroker).toBeGreaterThan(0);
  await settleSome(4000);

  // 3. PostgreSQL restarts (fast shutdown: every session ended, transactions under way lost).
  await waitInFlight(devices, 'the PostgreSQL restart');
  const atPg = inFlight();
  district.restartPostgres();
  note(`PostgreSQL restarted with ${atPg} events in flight`);
  expect(atPg).toBeGreaterThan(0);
  await settleSome(5000);

  running = false;
  await load;
  await cuts;
  note(`load stopped; ${cutsInFlight} power cuts struck with events in flight`);
  expect(cutsInFlight).toBeGreaterThan(0);

  // Drain: devices resend until every event has its verdict.
  const deadline = Date.now() + 90_000;
  while (inFlight() > 0 || devices.some((d) => !d.powered)) {
    if (Date.now() > deadline) throw new Error(`still ${inFlight()} unacked after the faults:\n${log.join('\n')}`);
    for (const d of devices) await d.resend();
    await sleep(700);
  }
  held = await district.allHeld();
  note(`drained; halls held: ${JSON.stringify([...held])}`);

  // Count, hall by hall, straight from PostgreSQL.
  let total = 0;
  for (const hall of HALLS) {
    const db = await openPostgres(hallDbUrl(district.dbUrl, hall, 60_000));
    try {
      const hallDevices = devices.filter((d) => d.hall === hall);
      for (const d of hallDevices) {
        // Every event the device made has a committed verdict.
        const notCommitted = d.sent.filter((s) => d.verdict(s.seq, s.boot)?.verdict !== 'committed');
        expect({ dev: d.config.id, notCommitted }).toEqual({ dev: d.config.id, notCommitted: [] });
        const rows = await db.all<{ boot: number; seq: number; n: number }>(
          `SELECT boot, seq, COUNT(*) AS n FROM ledger WHERE kind = 'event' AND dev = $1 GROUP BY boot, seq ORDER BY boot, seq`, [d.config.id]);
        const doubled = rows.filter((r) => Number(r.n) !== 1);
        const inLedger = new Set(rows.map((r) => `${r.boot}:${r.seq}`));
        const lost = d.sent.filter((s) => !inLedger.has(`${s.boot}:${s.seq}`));
        const made = new Set(d.sent.map((s) => `${s.boot}:${s.seq}`));
        const strangers = rows.filter((r) => !made.has(`${r.boot}:${r.seq}`));
        expect({ dev: d.config.id, lost, doubled, strangers }).toEqual({ dev: d.config.id, lost: [], doubled: [], strangers: [] });
        total += d.sent.length;
      }
      // The queue moved by exactly the committed calls.
      const committedCalls = hallDevices.flatMap((d) => d.sent.filter((s) => s.type === 'call')).length;
      const called = await db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM queue_tickets WHERE status <> 'waiting'`);
      expect({ hall, called: Number(called!.n) }).toEqual({ hall, called: committedCalls });
      // The chain: Ledger.verify against the holder's signed checkpoint, and the holder's own verify.
      const holder = held.get(hall)!;
      await district.hallApi(hall, 'GET', '/healthz');
      const ledger = new Ledger(db, {
        hall, hubKey: new Uint8Array(Buffer.from(fs.readFileSync(path.join(district.root, holder, 'hub.key'), 'utf8').trim(), 'hex')),
        checkpointFile: path.join(district.root, holder, `checkpoint-${hall}.json`),
      });
      const report = await ledger.verify();
      expect({ hall, ok: report.ok, problem: report.problem }).toEqual({ hall, ok: true, problem: null });
      expect(report.rows).toBeGreaterThan(0);
      expect(await district.hallApi(hall, 'GET', '/api/ledger/verify')).toMatchObject({ ok: true, problem: null });
    } finally {
      await db.close();
    }
  }
  note(`${total} events, ${devices.reduce((n, d) => n + d.powerCuts, 0)} power cuts`);
  // What happened, for whoever reads the test output.
  process.stdout.write(log.join('\n') + '\n');
  expect(total).toBeGreaterThan(500);
});
