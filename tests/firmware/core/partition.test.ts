import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDeviceConfig } from '../../../firmware/core/config.js';
import { Device } from '../../../firmware/core/device.js';
import { FILE_SYSTEM_OVERHEAD, maxOutboxBytes, outboxFitError, parsePartitionTable } from '../../../firmware/core/partition.js';
import { createSimHardware } from '../../../simulator/hardware.js';
import { VirtualTime } from '../../../simulator/virtual-time.js';

const ROOT = join(__dirname, '..', '..', '..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'manifest.json'), 'utf8'));
const table = parsePartitionTable(readFileSync(join(ROOT, 'firmware', 'moddable', 'partitions-esp32.csv'), 'utf8'));
const FLASH_4MB = 4 * 1024 * 1024;

function device(outboxBytes: number, total: number | undefined) {
  const hw = createSimHardware({ time: new VirtualTime() });
  hw.flash.total = () => total; // the medium reports its partition, as littlefs's System.info does
  const config = parseDeviceConfig({ id: 'pad-w1', role: 'pad', site: 'hall1', win: 'W1', secret: '5a'.repeat(32), outboxBytes });
  if (Array.isArray(config)) throw new Error(JSON.stringify(config));
  return () => new Device(config, hw);
}

describe('outboxBytes against the file partition', () => {
  test('the old default (65,536 on mcconfig\'s 64 KiB partition) is refused, with the numbers', () => {
    const error = outboxFitError(65_536, 0x10000);
    expect(error).toBe('outboxBytes: 65536 does not fit the file partition of 65536 bytes; at most 40960 '
      + `(the partition less ${FILE_SYSTEM_OVERHEAD} for littlefs). Lower outboxBytes or enlarge the storage partition in firmware/moddable/partitions-esp32.csv`);
    expect(outboxFitError(40_960, 0x10000)).toBeUndefined();
    expect(outboxFitError(40_961, 0x10000)).toMatch(/^outboxBytes: 40961 does not fit/);
    expect(outboxFitError(1 << 30, undefined)).toBeUndefined(); // no fixed size (lin, simulator)
    expect(outboxFitError(4096, 0)).toMatch(/not a byte count/);
  });

  test('a device whose partition is too small does not start, and says why', () => {
    expect(device(65_536, 0x10000)).toThrow('device config: outboxBytes: 65536 does not fit the file partition of 65536 bytes');
    const ok = device(65_536, 0x60000)();
    ok.start();
    expect(ok.outbox.boot).toBe(1);
    expect(device(65_536, undefined)).not.toThrow();
  });
});

describe('the esp32 partition table the manifest names', () => {
  test('the manifest builds with it', () => {
    expect(manifest.platforms.esp32.build.PARTITIONS_FILE).toBe('./firmware/moddable/partitions-esp32.csv');
  });

  test('partitions are in order, do not overlap, fit 4 MB, app slots 64 KiB aligned', () => {
    let end = 0x9000; // after the bootloader and the table itself
    for (const p of table) {
      expect({ name: p.name, overlaps: p.offset < end }).toEqual({ name: p.name, overlaps: false });
      if (p.type === 'app') expect({ name: p.name, aligned: p.offset % 0x10000 }).toEqual({ name: p.name, aligned: 0 });
      expect(p.offset % 0x1000).toBe(0);
      end = p.offset + p.size;
    }
    expect(end).toBeLessThanOrEqual(FLASH_4MB);
    expect(table.filter((p) => p.type === 'app').map((p) => p.subtype)).toEqual(['ota_0', 'ota_1']);
    expect(table.find((p) => p.subtype === 'ota')).toBeDefined();
  });

  test('the storage partition holds the manifest\'s outboxBytes with room for littlefs', () => {
    // manifest_littlefs.json mounts the partition named "storage"
    const storage = table.find((p) => p.name === 'storage')!;
    expect(storage.type).toBe('data');
    const outboxBytes = manifest.config.sannuo.outboxBytes as number;
    expect(outboxFitError(outboxBytes, storage.size)).toBeUndefined();
    expect(outboxBytes).toBeLessThanOrEqual(maxOutboxBytes(storage.size));
    for (const platform of Object.values(manifest.platforms) as { config?: { sannuo?: { outboxBytes?: number } } }[]) {
      const own = platform.config?.sannuo?.outboxBytes;
      if (own !== undefined) expect(outboxFitError(own, storage.size)).toBeUndefined();
    }
  });

  test('an unreadable line is named', () => {
    expect(() => parsePartitionTable('nvs, data, nvs, 0x9000, lots,')).toThrow('partition table: cannot read "nvs, data, nvs, 0x9000, lots,"');
  });
});
