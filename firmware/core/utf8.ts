/**
 * UTF-8 over plain ECMAScript: XS has no TextEncoder, and the core may not reach for globals
 * that only Node or browsers provide.
 */

export function utf8Encode(text: string): Uint8Array {
  // Two passes straight into a Uint8Array: on XS a growing number[] costs several times more.
  let size = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) size += 1;
    else if (code < 0x800) size += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { size += 4; i++; }
    else size += 3;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) { out[at++] = code; continue; }
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      code = 0x10000 + ((code - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
    } else if (code >= 0xd800 && code <= 0xdfff) code = 0xfffd; // a lone surrogate
    if (code < 0x800) { out[at++] = 0xc0 | (code >> 6); out[at++] = 0x80 | (code & 63); }
    else if (code < 0x10000) { out[at++] = 0xe0 | (code >> 12); out[at++] = 0x80 | ((code >> 6) & 63); out[at++] = 0x80 | (code & 63); }
    else { out[at++] = 0xf0 | (code >> 18); out[at++] = 0x80 | ((code >> 12) & 63); out[at++] = 0x80 | ((code >> 6) & 63); out[at++] = 0x80 | (code & 63); }
  }
  return out;
}

/** Strict decoder: returns undefined for malformed UTF-8 so callers can name the fault. */
export function utf8Decode(bytes: Uint8Array): string | undefined {
  let text = '';
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i];
    let code: number;
    let extra: number;
    if (b0 < 0x80) { code = b0; extra = 0; }
    else if (b0 >= 0xc2 && b0 < 0xe0) { code = b0 & 31; extra = 1; }
    else if (b0 >= 0xe0 && b0 < 0xf0) { code = b0 & 15; extra = 2; }
    else if (b0 >= 0xf0 && b0 < 0xf5) { code = b0 & 7; extra = 3; }
    else return undefined;
    for (let k = 1; k <= extra; k++) {
      const b = bytes[i + k];
      if (b === undefined || (b & 0xc0) !== 0x80) return undefined;
      code = (code << 6) | (b & 63);
    }
    if ((extra === 2 && code < 0x800) || (extra === 3 && (code < 0x10000 || code > 0x10ffff))) return undefined;
    if (code >= 0xd800 && code <= 0xdfff) return undefined;
    text += String.fromCodePoint(code);
    i += extra + 1;
  }
  return text;
}

/** Two lowercase hex digits for each byte value: a lookup per byte, not a toString(16). */
const HEX_BYTE: string[] = Array.from({ length: 256 }, (_, b) => (b < 16 ? '0' : '') + b.toString(16));

export function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (let i = 0; i < bytes.length; i++) hex += HEX_BYTE[bytes[i]];
  return hex;
}

/** Whether text is only lowercase hex digits (0-9, a-f). */
export function isLowerHex(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** String equality in time that depends only on the lengths, so a forged signature learns nothing from timing. */
export function equalText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

export function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length % 2 !== 0 || !isLowerHex(hex)) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
