/**
 * CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), the checksum zlib, PNG and LittleFS
 * use, over plain ECMAScript: XS has no zlib and firmware/core may not import Node's.
 * Check value: crc32("123456789") === 0xCBF43926.
 */

let table: Uint32Array | undefined;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** CRC-32 of bytes[start, end); the table (1 KiB) is built on first use. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const t = table ?? (table = makeTable());
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
