import { ClockOffset } from '../../../firmware/core/clock.js';
import { VirtualTime } from '../../../simulator/virtual-time.js';

const HOUR = 3600_000;

test('unsynced until the first sample, which sets the offset outright', () => {
  const time = new VirtualTime(0); // an ESP32 without SNTP starts at the epoch
  const clock = new ClockOffset(time);
  expect(clock.synced).toBe(false);
  expect(clock.now()).toBe(0);
  const hub = Date.UTC(2025, 2, 3, 1, 0, 0);
  expect(clock.sample(hub)).toBe('first');
  expect(clock.synced).toBe(true);
  expect(clock.now()).toBe(hub);
  time.advance(1234);
  expect(clock.now()).toBe(hub + 1234);
});

test('small differences are smoothed, large ones stepped', () => {
  const time = new VirtualTime(1_000_000);
  const clock = new ClockOffset(time);
  clock.sample(time.now() + 10_000);
  expect(clock.offset).toBe(10_000);
  // A sample 400 ms off (a delayed message) moves the offset by a quarter of that.
  clock.sample(time.now() + 10_400);
  expect(clock.offset).toBe(10_100);
  // A hub clock corrected by an hour: step.
  expect(clock.sample(time.now() + 10_000 + HOUR)).toBe('stepped');
  expect(clock.offset).toBe(10_000 + HOUR);
});

test('a known round trip moves the reading to its middle; a long one is discarded', () => {
  const time = new VirtualTime(5_000);
  const clock = new ClockOffset(time);
  clock.sample(9_000, time.now(), 200);
  expect(clock.offset).toBe(9_000 + 100 - 5_000);
  expect(clock.sample(50_000, time.now(), 60_000)).toBe('discarded');
  expect(clock.offset).toBe(4_100);
  expect(clock.discarded).toBe(1);
  expect(clock.sample(Number.NaN)).toBe('discarded');
});

test('synced lapses without samples for staleAfter', () => {
  const time = new VirtualTime(1_000);
  const clock = new ClockOffset(time, { staleAfter: HOUR });
  clock.sample(2_000);
  time.advance(HOUR - 1);
  expect(clock.synced).toBe(true);
  time.advance(1);
  expect(clock.synced).toBe(false);
  expect(() => new ClockOffset(time, { alpha: 0 })).toThrow(/alpha/);
});
