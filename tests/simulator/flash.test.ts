import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlashFullError } from '../../firmware/core/hardware.js';
import { crc32 } from '../../firmware/core/crc32.js';
import { MemoryFlash, PowerCut } from '../../simulator/flash.js';
import { DiskFlash } from '../../simulator/disk-flash.js';

const bytes = (...values: number[]) => Uint8Array.from(values);
const text = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

test('crc32 matches the standard check value', () => {
  expect(crc32(text('123456789'))).toBe(0xcbf43926);
  expect(crc32(new Uint8Array(0))).toBe(0);
  expect(crc32(text('xx123456789yy'), 2, 11)).toBe(0xcbf43926);
});

describe('MemoryFlash', () => {
  test('append, write, rename, remove and read back copies', () => {
    const flash = new MemoryFlash();
    flash.append('a', bytes(1, 2));
    flash.append('a', bytes(3));
    expect(flash.read('a')).toEqual(bytes(1, 2, 3));
    const copy = flash.read('a')!;
    copy[0] = 99;
    expect(flash.read('a')![0]).toBe(1);
    flash.write('b', bytes(9, 9));
    flash.rename('b', 'a');
    expect(flash.read('a')).toEqual(bytes(9, 9));
    expect(flash.read('b')).toBeUndefined();
    flash.remove('a');
    flash.remove('never-there');
    expect(flash.list()).toEqual([]);
    expect(() => flash.rename('nope', 'x')).toThrow('nope does not exist');
    expect(flash.stats).toEqual({ steps: 7, bytesWritten: 5, appends: 2, writes: 1, removes: 2, renames: 2 });
  });

  test('capacity: FlashFullError before any byte is written; write may replace in place', () => {
    const flash = new MemoryFlash({ capacity: 10 });
    flash.append('a', new Uint8Array(8));
    expect(flash.free()).toBe(2);
    expect(() => flash.append('a', new Uint8Array(3))).toThrow(FlashFullError);
    expect(flash.read('a')!.length).toBe(8);
    flash.write('a', new Uint8Array(10));
    expect(() => flash.write('b', new Uint8Array(1))).toThrow(FlashFullError);
    expect(flash.read('b')).toBeUndefined();
    expect(new MemoryFlash().free()).toBeUndefined();
  });

  test.each([
    ['none', 0],
    ['half', 5],
    ['all', 10],
    [{ bytes: 3 }, 3],
    [{ bytes: 50 }, 10],
  ] as const)('a cut append with tear %j keeps %i bytes, then everything throws until reboot', (tear, kept) => {
    const flash = new MemoryFlash();
    flash.append('log', bytes(7));
    flash.armCrash(2, tear);
    expect(() => flash.append('log', new Uint8Array(10).fill(1))).toThrow(PowerCut);
    expect(flash.crashed).toBe(true);
    expect(() => flash.read('log')).toThrow(PowerCut);
    expect(() => flash.append('log', bytes(1))).toThrow(PowerCut);
    expect(flash.lastCrash).toEqual({ step: 2, op: 'append', name: 'log', applied: kept, total: 10 });
    flash.reboot();
    expect(flash.read('log')!.length).toBe(1 + kept);
    flash.append('log', bytes(2));
    expect(flash.read('log')!.length).toBe(2 + kept);
  });

  test('a cut write leaves the prefix of the new bytes', () => {
    const flash = new MemoryFlash({ crashAt: 2, tear: 'half' });
    flash.write('f', new Uint8Array(4).fill(1));
    expect(() => flash.write('f', new Uint8Array(8).fill(2))).toThrow(PowerCut);
    flash.reboot();
    expect(flash.read('f')).toEqual(new Uint8Array(4).fill(2));
  });

  test('rename and remove happen wholly or not at all', () => {
    for (const [tear, done] of [['none', false], ['half', false], ['all', true], [{ bytes: 1 }, true]] as const) {
      const flash = new MemoryFlash();
      flash.write('new', bytes(1));
      flash.write('log', bytes(2));
      flash.armCrash(3, tear);
      expect(() => flash.rename('new', 'log')).toThrow(PowerCut);
      flash.reboot();
      expect(flash.read('log')).toEqual(done ? bytes(1) : bytes(2));
      expect(flash.read('new')).toEqual(done ? undefined : bytes(1));
      flash.armCrash(4, tear);
      expect(() => flash.remove('log')).toThrow(PowerCut);
      flash.reboot();
      expect(flash.read('log') === undefined).toBe(done);
    }
  });

  test('snapshot and restore, readable while crashed', () => {
    const flash = new MemoryFlash({ crashAt: 2 });
    flash.append('a', bytes(1, 2, 3));
    const image = flash.snapshot();
    expect(() => flash.remove('a')).toThrow(PowerCut);
    expect(flash.snapshot()).toEqual({ a: bytes(1, 2, 3) });
    image.a[1] = 0;
    flash.restore(image);
    flash.reboot();
    expect(flash.read('a')).toEqual(bytes(1, 0, 3));
    expect(flash.stats.steps).toBe(2);
  });

  test('bad options are named', () => {
    expect(() => new MemoryFlash({ capacity: 0 })).toThrow('MemoryFlash capacity');
    expect(() => new MemoryFlash({ crashAt: 0 })).toThrow('expected a step ≥ 1');
    expect(() => new MemoryFlash({ crashAt: 1, tear: { bytes: -1 } })).toThrow('tear.bytes');
  });
});

describe('DiskFlash', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sannuo-flash-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a new instance on the same directory sees the same files, torn state included', () => {
    const flash = new DiskFlash(dir, { capacity: 1000 });
    flash.append('outbox.log', bytes(1, 2, 3));
    flash.write('outbox.log.new', bytes(4));
    flash.rename('outbox.log.new', 'odd/name');
    flash.write('gone', bytes(5));
    flash.remove('gone');
    flash.armCrash(flash.stats.steps + 1, { bytes: 2 });
    expect(() => flash.append('outbox.log', bytes(6, 7, 8, 9))).toThrow(PowerCut);

    const again = new DiskFlash(dir, { capacity: 1000 });
    expect(again.list()).toEqual(['odd/name', 'outbox.log']);
    expect(again.read('outbox.log')).toEqual(bytes(1, 2, 3, 6, 7));
    expect(again.read('odd/name')).toEqual(bytes(4));
    expect(readdirSync(dir).sort()).toEqual(['odd%2Fname', 'outbox.log']);
    again.restore({ x: bytes(1) });
    expect(new DiskFlash(dir).list()).toEqual(['x']);
  });

  test('refuses a directory that holds more than its capacity', () => {
    new DiskFlash(dir).write('big', new Uint8Array(100));
    expect(() => new DiskFlash(dir, { capacity: 50 })).toThrow('more than the capacity of 50');
  });
});
