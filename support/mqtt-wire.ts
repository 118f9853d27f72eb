/**
 * MQTT 3.1.1 wire pieces for tests that write raw bytes to a broker (the fuzz, the size limits):
 * the remaining-length varint, a length-prefixed string, a packet from its first byte and body.
 */

/** The remaining-length varint; `n` above 268,435,455 gives a malformed five-byte one, as a fuzz wants. */
export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

export const mqttString = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length >> 8 & 0xff, b.length & 0xff]), b]);
export const packet = (first: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([first]), varint(body.length), body]);
