import { createSimHardware, SimDisplay, SimKeys, SimTransport } from '../../simulator/hardware.js';
import { VirtualTime } from '../../simulator/virtual-time.js';

test('timers fire in due order, same-time timers in the order set, each seeing its due time', () => {
  const time = new VirtualTime(1000);
  const seen: [string, number][] = [];
  time.set(() => seen.push(['b', time.now()]), 20);
  time.set(() => seen.push(['a', time.now()]), 10);
  time.set(() => seen.push(['a2', time.now()]), 10);
  const cleared = time.set(() => seen.push(['never', time.now()]), 15);
  time.clear(cleared);
  time.set(() => time.set(() => seen.push(['nested', time.now()]), 5), 12);
  expect(time.advance(16)).toBe(3);
  expect(time.now()).toBe(1016);
  time.advance(100);
  expect(seen).toEqual([['a', 1010], ['a2', 1010], ['b', 1020], ['nested', 1017]].sort((x, y) => (x[1] as number) - (y[1] as number)));
  expect(time.pending()).toBe(0);
});

test('runUntilIdle jumps to each timer; a periodic timer needs `until` and otherwise throws', () => {
  const time = new VirtualTime(0);
  let n = 0;
  time.set(() => n++, 3_600_000);
  expect(time.runUntilIdle()).toBe(1);
  expect(time.now()).toBe(3_600_000);
  const tick = () => { n++; time.set(tick, 1000); };
  time.set(tick, 1000);
  expect(() => time.runUntilIdle({ limit: 50 })).toThrow(/still busy after 50/);
  const before = n;
  time.runUntilIdle({ until: time.now() + 10_000 });
  expect(n - before).toBe(10);
});

test('many cleared timers do not pile up', () => {
  const time = new VirtualTime(0);
  for (let i = 0; i < 10_000; i++) time.clear(time.set(() => {}, 1000 + i));
  expect(time.pending()).toBe(0);
  expect((time as unknown as { heap: unknown[] }).heap.length).toBeLessThan(200);
});

test('a device clock may be skewed and drift against the shared time', () => {
  const time = new VirtualTime(0);
  const clock = time.clockFor(-500, 100); // 100 ppm fast
  time.advance(1_000_000);
  expect(clock.now()).toBe(1_000_000 - 500 + 100);
});

test('keys: bounce ends at the asked level; taps release; bad indexes are named', () => {
  const time = new VirtualTime(0);
  const keys = new SimKeys(time);
  const edges: string[] = [];
  keys.onChange = (i, p) => edges.push(`${i}${p ? 'v' : '^'}`);
  keys.bounce(2, true, 4, 1);
  time.advance(10);
  expect(keys.level(2)).toBe(true);
  expect(edges).toEqual(['2v', '2^', '2v', '2^', '2v']);
  keys.up(2);
  keys.tap(0, 50);
  time.advance(49);
  expect(keys.level(0)).toBe(true);
  time.advance(1);
  expect(keys.level(0)).toBe(false);
  expect(() => keys.down(5)).toThrow(/no key 5/);
});

test('display history is capped; transport refuses while the link is down', () => {
  const display = new SimDisplay(3);
  for (let i = 0; i < 10; i++) display.render({ screen: 'idle', text: `t${i}`, online: true });
  expect(display.history.map((v) => (v as { text: string }).text)).toEqual(['t7', 't8', 't9']);
  expect(display.renders).toBe(10);
  const transport = new SimTransport();
  const got: string[] = [];
  transport.handler = (topic) => got.push(topic);
  expect(transport.publish('a', 'x', false)).toBe(false);
  transport.link = true;
  expect(transport.publish('b', 'x', false)).toBe(true);
  expect(got).toEqual(['b']);
  const hw = createSimHardware({ time: new VirtualTime(0), seed: 7 });
  const again = createSimHardware({ time: new VirtualTime(0), seed: 7 });
  expect([hw.random(), hw.random()]).toEqual([again.random(), again.random()]);
});
