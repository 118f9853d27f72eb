import { parseScenario, type Scenario } from '../../simulator/scenario.js';
import { Simulation } from '../../simulator/simulation.js';
import { VirtualTime } from '../../simulator/virtual-time.js';
import { ledgerContent, ledgerRatings, pressedByTicket, startVirtualHub } from './support.js';

jest.setTimeout(240_000);

const SCENARIO = {
  seed: 4242,
  duration: 1800, // seconds
  drain: 900,
  arrivals: { perHour: 80 },
  time: { mode: 'virtual', quiet: 15 },
  behaviour: { recall: 0.1, noShow: 0.05, transfer: 0.05, pausePerHour: 1, pauseMinutes: 2 },
  ratings: { levels: { 5: 40, 4: 20, 3: 15, 2: 15, 1: 10 }, skip: 0.1 },
};

async function runOnce(scenario: Scenario) {
  const time = new VirtualTime(Date.parse(scenario.start));
  const hub = await startVirtualHub(time);
  const sim = new Simulation({ scenario, hub: hub.http, token: hub.token, mqtt: hub.mqtt, time });
  try {
    await sim.setup();
    await sim.run();
    await sim.driver.settle(true);
    const content = await ledgerContent(hub.hub.db);
    const ratings = await ledgerRatings(hub.hub.db);
    const verify = await hub.hub.ledger.verify();
    return { content, ratings, verify, presses: [...sim.hall.presses], stats: { ...sim.hall.stats }, pending: sim.hall.pendingEvents() };
  } finally {
    sim.stop();
    await hub.stop();
  }
}

describe('a simulated hall under virtual time against an in-process hub', () => {
  let first: Awaited<ReturnType<typeof runOnce>>;

  beforeAll(async () => {
    first = await runOnce(parseScenario(SCENARIO));
  });

  test('citizens were called, served and rated through the firmware on the simulated devices', () => {
    expect(first.stats.issued).toBeGreaterThan(20);
    expect(first.stats.served).toBeGreaterThan(15);
    expect(first.stats.taken).toBeGreaterThan(10);
    expect(first.pending).toBe(0);
    expect(first.verify.ok).toBe(true);
  });

  test('every rating in the ledger is what a citizen pressed, bound to the ticket that citizen held, exactly once', () => {
    const pressed = pressedByTicket(first.presses);
    const inLedger = new Map<string, string>();
    for (const r of first.ratings) {
      expect(r.bound).toBe('request');
      expect(inLedger.has(r.number!)).toBe(false);
      inLedger.set(r.number!, `${r.level}/${r.reason}`);
    }
    expect(inLedger).toEqual(pressed);
    // Bad ratings came with the reason the citizen chose.
    expect(first.ratings.some((r) => r.level <= 2 && r.reason !== null)).toBe(true);
  });

  test('the same seed twice gives the same ledger content', async () => {
    const second = await runOnce(parseScenario(SCENARIO));
    expect(second.content.length).toBe(first.content.length);
    expect(second.content).toEqual(first.content);
    expect(second.ratings.map((r) => [r.number, r.level, r.reason, r.win])).toEqual(first.ratings.map((r) => [r.number, r.level, r.reason, r.win]));
  });

  test('a different seed gives a different hall', async () => {
    const other = await runOnce(parseScenario({ ...SCENARIO, seed: 7 }));
    expect(other.content).not.toEqual(first.content);
  });
});

test('the hall counts the caller actions the devices took, not the presses: equal to the ledger through Wi-Fi drops and a full flash', async () => {
  const displays = ['W01-dsp', 'W02-dsp', 'W03-dsp'];
  const faults = [];
  for (let at = 120; at < 1500; at += 97) faults.push({ at, kind: 'wifiDrop', device: displays[at % 3], duration: 40 });
  for (let at = 300; at < 1500; at += 311) faults.push({ at, kind: 'flashFull', device: displays[(at + 1) % 3], duration: 30 });
  const scenario = parseScenario({ ...SCENARIO, seed: 77, behaviour: { recall: 0.3, noShow: 0.2, transfer: 0.3, pausePerHour: 4, pauseMinutes: 1 }, faults });
  const run = await runOnce(scenario);
  expect(run.pending).toBe(0);
  const byType = new Map<string, number>();
  for (const line of run.content) {
    const type = JSON.parse(line)[3] as string;
    byType.set(type, (byType.get(type) ?? 0) + 1);
  }
  expect(run.stats.transfers).toBeGreaterThan(0);
  expect({ recalls: run.stats.recalls, noShows: run.stats.noShows, transfers: run.stats.transfers, pauses: run.stats.pauses })
    .toEqual({ recalls: byType.get('recall') ?? 0, noShows: byType.get('noShow') ?? 0, transfers: byType.get('transfer') ?? 0, pauses: byType.get('pause') ?? 0 });
});
