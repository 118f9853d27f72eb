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
