import { Debouncer } from '../../../firmware/core/debounce.js';
import { SimKeys } from '../../../simulator/hardware.js';
import { VirtualTime } from '../../../simulator/virtual-time.js';

function rig() {
  const time = new VirtualTime();
  const keys = new SimKeys(time);
  const presses: number[] = [];
  const stuck: number[] = [];
  const unstuck: number[] = [];
  const debouncer = new Debouncer(keys, time, time, 5, {
    press: (i) => presses.push(i),
    stuck: (i) => stuck.push(i),
    unstuck: (i) => unstuck.push(i),
  });
  return { time, keys, presses, stuck, unstuck, debouncer };
}

test('a clean tap is one press, reported after the level settles and the mash window passes', () => {
  const { time, keys, presses, debouncer } = rig();
  keys.tap(2);
  time.advance(29);
  expect(presses).toEqual([]);
  time.advance(1000);
  expect(presses).toEqual([2]);
  expect(debouncer.counters.accepted).toBe(1);
});

test('contact bounce on press and release is filtered to one press', () => {
  const { time, keys, presses, debouncer } = rig();
  keys.bounce(1, true, 7, 2, 150);
  time.advance(1000);
  expect(presses).toEqual([1]);
  expect(debouncer.counters.bounces).toBeGreaterThanOrEqual(6);
  expect(keys.level(1)).toBe(false);
});

test('a glitch shorter than the settle time is not a press', () => {
  const { time, keys, presses, debouncer } = rig();
  keys.down(0);
  time.advance(5);
  keys.up(0);
  time.advance(1000);
  expect(presses).toEqual([]);
  expect(debouncer.counters.bounces).toBeGreaterThan(0);
});

test('the same key again within the repeat guard is ignored and counted, later it counts', () => {
  const { time, keys, presses, debouncer } = rig();
  keys.tap(3, 60);
  time.advance(400);
  keys.tap(3, 60);
  time.advance(400);
  expect(presses).toEqual([3]);
  expect(debouncer.counters.repeats).toBe(1);
  time.advance(1000);
  keys.tap(3, 60);
  time.advance(1000);
  expect(presses).toEqual([3, 3]);
});

test('several keys mashed together are all ignored, and the pad listens again once quiet', () => {
  const { time, keys, presses, debouncer } = rig();
  keys.tap(0, 60);
  time.advance(40);
  keys.tap(4, 60);
  time.advance(40);
  keys.tap(2, 60);
  time.advance(2000);
  expect(presses).toEqual([]);
  expect(debouncer.counters.mashed).toBe(3);
  keys.tap(1);
  time.advance(1000);
  expect(presses).toEqual([1]);
});

test('two keys held down at once are a mash', () => {
  const { time, keys, presses } = rig();
  keys.down(0);
  keys.down(1);
  time.advance(500);
  keys.up(0);
  keys.up(1);
  time.advance(1000);
  expect(presses).toEqual([]);
});

test('a key held past stuckAfter is reported stuck, other keys keep working, release reports unstuck', () => {
  const { time, keys, presses, stuck, unstuck, debouncer } = rig();
  keys.stick(2);
  time.advance(9_000);
  expect(stuck).toEqual([]);
  time.advance(1_100);
  expect(stuck).toEqual([2]);
  expect(debouncer.isStuck(2)).toBe(true);
  keys.tap(4);
  time.advance(1000);
  expect(presses).toEqual([2, 4]);
  keys.up(2);
  time.advance(100);
  expect(unstuck).toEqual([2]);
  expect(debouncer.isStuck(2)).toBe(false);
  expect(debouncer.counters.stuck).toBe(1);
});

test('stop detaches from the keys and leaves no timers behind', () => {
  const { time, keys, presses, debouncer } = rig();
  keys.tap(0);
  time.advance(10);
  debouncer.stop();
  time.advance(1000);
  expect(presses).toEqual([]);
  expect(keys.onChange).toBeUndefined();
  expect(time.pending()).toBe(0);
});

test('bad options are refused with the option named', () => {
  const time = new VirtualTime();
  expect(() => new Debouncer(new SimKeys(time), time, time, 5, { press: () => {} }, { settle: -1 })).toThrow(/settle/);
});
