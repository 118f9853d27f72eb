/**
 * Does the outbox fit the file partition? mcconfig's own esp32 layout gives littlefs a 64 KiB
 * `storage` partition, exactly the old default outboxBytes (65,536): the outbox could never
 * reach its capacity, and a compaction (log + its `.new` copy) would hit a full medium first.
 * The manifest now names a partition table (firmware/moddable/partitions-esp32.csv) and the
 * device checks at boot that outboxBytes leaves littlefs its own blocks; a build whose
 * partition is too small refuses to start, with the numbers, instead of failing a rating later.
 */

/** littlefs block size on the ESP32 flash (its erase sector). */
export const FILE_BLOCK_BYTES = 4096; // bytes
/**
 * Blocks littlefs keeps beside the outbox's data: the superblock pair, the metadata pair of the
 * flash folder, and the partly filled last block of each of the two files (log and `.new`).
 */
export const FILE_SYSTEM_OVERHEAD = 6 * FILE_BLOCK_BYTES; // bytes

/** The largest outboxBytes a file partition of `partitionBytes` holds. */
export function maxOutboxBytes(partitionBytes: number): number {
  return Math.max(0, Math.floor((partitionBytes - FILE_SYSTEM_OVERHEAD) / FILE_BLOCK_BYTES) * FILE_BLOCK_BYTES);
}

/**
 * Why outboxBytes does not fit, or undefined when it does. `partitionBytes` undefined means the
 * medium has no fixed size (a host file system on lin, the simulator's memory flash): no check.
 */
export function outboxFitError(outboxBytes: number, partitionBytes: number | undefined): string | undefined {
  if (partitionBytes === undefined) return undefined;
  if (!Number.isSafeInteger(partitionBytes) || partitionBytes <= 0) return `file partition: size ${partitionBytes} is not a byte count`;
  const max = maxOutboxBytes(partitionBytes);
  if (outboxBytes <= max) return undefined;
  return `outboxBytes: ${outboxBytes} does not fit the file partition of ${partitionBytes} bytes; `
    + `at most ${max} (the partition less ${FILE_SYSTEM_OVERHEAD} for littlefs). `
    + 'Lower outboxBytes or enlarge the storage partition in firmware/moddable/partitions-esp32.csv';
}

export interface PartitionEntry { name: string; type: string; subtype: string; offset: number; size: number }

function number(text: string): number {
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return parseInt(t, 16);
  if (/^[0-9]+[kK]$/.test(t)) return parseInt(t, 10) * 1024;
  if (/^[0-9]+[mM]$/.test(t)) return parseInt(t, 10) * 1024 * 1024;
  if (/^[0-9]+$/.test(t)) return parseInt(t, 10);
  return NaN;
}

/**
 * An ESP-IDF partition table (CSV: name, type, subtype, offset, size, flags). Every offset is
 * given in this project's file, so no implicit placement is needed.
 */
export function parsePartitionTable(csv: string): PartitionEntry[] {
  const out: PartitionEntry[] = [];
  for (const raw of csv.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [name, type, subtype, offset, size] = line.split(',').map((f) => f.trim());
    const entry = { name, type, subtype, offset: number(offset ?? ''), size: number(size ?? '') };
    if (!name || !type || !subtype || !Number.isFinite(entry.offset) || !Number.isFinite(entry.size)) {
      throw new Error(`partition table: cannot read "${line}"`);
    }
    out.push(entry);
  }
  return out;
}
