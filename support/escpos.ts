/**
 * An ESC/POS reader for tests and benches: splits a printer's byte stream into commands (the
 * ones receiptline and the kiosk send, each with its length from the Epson ESC/POS reference),
 * and decodes a job into what a printed ticket shows: text lines (GB18030 in Kanji mode, FS &),
 * raster images (GS 8 L + GS ( L, and GS v 0) and cuts. An unknown command is reported, never
 * skipped silently, so a test sees bytes a printer would misread.
 */

import iconv from 'iconv-lite';
import jsqrModule from 'jsqr';

export type Op =
  | { kind: 'text'; bytes: Buffer; kanji: boolean }
  | { kind: 'lf' }
  | { kind: 'status'; n: number }
  | { kind: 'transmit'; n: number }
  | { kind: 'image'; width: number; height: number; bits: Buffer; print: boolean }
  | { kind: 'print-stored' }
  | { kind: 'cut' }
  | { kind: 'kanji'; on: boolean }
  | { kind: 'other'; name: string }
  | { kind: 'unknown'; byte: number; at: number };

const ESC = 0x1b, GS = 0x1d, FS = 0x1c, DLE = 0x10, LF = 0x0a;

/** ESC x commands by their length in bytes (the prefix included). */
const ESC_LEN: Record<number, number> = {
  0x40: 2, 0x32: 2, 0x33: 3, 0x20: 3, 0x21: 3, 0x2d: 3, 0x45: 3, 0x47: 3, 0x4d: 3, 0x52: 3, 0x56: 3, 0x61: 3, 0x64: 3,
  0x4a: 3, 0x74: 3, 0x7b: 3, 0x24: 4, 0x5c: 4, 0x69: 2, 0x6d: 2, 0x70: 5, 0x72: 3,
};
/** GS x commands of fixed length. */
const GS_LEN: Record<number, number> = { 0x21: 3, 0x42: 3, 0x61: 3, 0x4c: 4, 0x57: 4, 0x48: 3, 0x68: 3, 0x77: 3, 0x66: 3, 0x49: 3, 0x72: 3 };
/** FS x commands of fixed length. */
const FS_LEN: Record<number, number> = { 0x26: 2, 0x2e: 2, 0x2d: 3, 0x43: 3, 0x53: 4, 0x57: 3, 0x21: 3 };

/**
 * The command at `i`, and its length; null when the buffer ends inside it (wait for more).
 */
export function nextOp(b: Buffer, i: number, kanji: boolean): { op: Op; len: number } | null {
  const c = b[i];
  const need = (n: number) => (i + n <= b.length ? n : -1);
  if (c === LF) return { op: { kind: 'lf' }, len: 1 };
  if (c === DLE) {
    if (need(3) < 0) return null;
    if (b[i + 1] === 0x04) return { op: { kind: 'status', n: b[i + 2] }, len: 3 };
    return { op: { kind: 'unknown', byte: c, at: i }, len: 1 };
  }
  if (c === ESC) {
    if (need(2) < 0) return null;
    const n = ESC_LEN[b[i + 1]];
    if (!n) return { op: { kind: 'unknown', byte: b[i + 1], at: i }, len: 2 };
    return need(n) < 0 ? null : { op: { kind: 'other', name: `ESC ${String.fromCharCode(b[i + 1])}` }, len: n };
  }
  if (c === FS) {
    if (need(2) < 0) return null;
    const x = b[i + 1];
    if (x === 0x28) { // FS ( fn pL pH ...
      if (need(5) < 0) return null;
      const n = 5 + b[i + 3] + 256 * b[i + 4];
      return need(n) < 0 ? null : { op: { kind: 'other', name: 'FS (' }, len: n };
    }
    const n = FS_LEN[x];
    if (!n) return { op: { kind: 'unknown', byte: x, at: i }, len: 2 };
    if (need(n) < 0) return null;
    if (x === 0x26) return { op: { kind: 'kanji', on: true }, len: n };
    if (x === 0x2e) return { op: { kind: 'kanji', on: false }, len: n };
    return { op: { kind: 'other', name: `FS ${String.fromCharCode(x)}` }, len: n };
  }
  if (c === GS) {
    if (need(2) < 0) return null;
    const x = b[i + 1];
    if (x === 0x56) { // GS V m [n]: cut
      if (need(3) < 0) return null;
      const n = b[i + 2] >= 65 ? 4 : 3;
      return need(n) < 0 ? null : { op: { kind: 'cut' }, len: n };
    }
    if (x === 0x72) return need(3) < 0 ? null : { op: { kind: 'transmit', n: b[i + 2] }, len: 3 };
    if (x === 0x38 && b[i + 2] === 0x4c) { // GS 8 L p1..p4 m fn a bx by c xL xH yL yH d...: store a raster
      if (need(7) < 0) return null;
      const p = b[i + 3] + (b[i + 4] << 8) + (b[i + 5] << 16) + (b[i + 6] << 24);
      const n = 7 + p;
      if (need(n) < 0) return null;
      const width = b[i + 13] + 256 * b[i + 14];
      const height = b[i + 15] + 256 * b[i + 16];
      return { op: { kind: 'image', width, height, bits: Buffer.from(b.subarray(i + 17, i + n)), print: false }, len: n };
    }
    if (x === 0x28) { // GS ( X pL pH ...
      if (need(5) < 0) return null;
      const n = 5 + b[i + 3] + 256 * b[i + 4];
      if (need(n) < 0) return null;
      if (b[i + 2] === 0x4c && b[i + 6] === 50) return { op: { kind: 'print-stored' }, len: n };
      return { op: { kind: 'other', name: `GS ( ${String.fromCharCode(b[i + 2])}` }, len: n };
    }
    if (x === 0x76 && b[i + 2] === 0x30) { // GS v 0 m xL xH yL yH d...: print a raster
      if (need(8) < 0) return null;
      const bytesWide = b[i + 4] + 256 * b[i + 5];
      const height = b[i + 6] + 256 * b[i + 7];
      const n = 8 + bytesWide * height;
      return need(n) < 0 ? null : { op: { kind: 'image', width: bytesWide * 8, height, bits: Buffer.from(b.subarray(i + 8, i + n)), print: true }, len: n };
    }
    const n = GS_LEN[x];
    if (!n) return { op: { kind: 'unknown', byte: x, at: i }, len: 2 };
    return need(n) < 0 ? null : { op: { kind: 'other', name: `GS ${String.fromCharCode(x)}` }, len: n };
  }
  // Printable bytes up to the next control byte: in Kanji mode GB18030, two or four bytes a character.
  let j = i;
  while (j < b.length && b[j] >= 0x20 && b[j] !== 0x7f) j++;
  if (j === i) return { op: { kind: 'unknown', byte: c, at: i }, len: 1 };
  return { op: { kind: 'text', bytes: Buffer.from(b.subarray(i, j)), kanji }, len: j - i };
}

/** Every command of a complete stream. */
export function parse(stream: Buffer): Op[] {
  const ops: Op[] = [];
  let kanji = false;
  for (let i = 0; i < stream.length;) {
    const next = nextOp(stream, i, kanji);
    if (!next) { ops.push({ kind: 'unknown', byte: stream[i], at: i }); break; }
    if (next.op.kind === 'kanji') kanji = next.op.on;
    ops.push(next.op);
    i += next.len;
  }
  return ops;
}

export interface Bitmap { width: number; height: number; /** 1 = black dot, row by row */ dots: Uint8Array }

export interface PrintedTicket {
  lines: string[];
  images: Bitmap[];
  cuts: number;
  unknown: Op[];
}

function bitmapOf(width: number, height: number, bits: Buffer): Bitmap {
  const dots = new Uint8Array(width * height);
  const stride = (width + 7) >> 3;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) dots[y * width + x] = (bits[y * stride + (x >> 3)] >> (7 - (x & 7))) & 1;
  return { width, height, dots };
}

/** What the paper shows: text lines, images (consecutive raster bands joined), cuts. */
export function decodeTicket(stream: Buffer): PrintedTicket {
  const lines: string[] = [];
  const images: Bitmap[] = [];
  const unknown: Op[] = [];
  let line = '';
  let cuts = 0;
  let stored: Bitmap | undefined;
  let lastWasImage = false;
  for (const op of parse(stream)) {
    if (op.kind === 'text') {
      // Single-byte mode bytes ≥ 0x80 are receiptline's rules (box drawing): a dash will do.
      line += op.kanji ? iconv.decode(op.bytes, 'gb18030') : [...op.bytes].map((x) => (x < 0x80 ? String.fromCharCode(x) : '-')).join('');
      lastWasImage = false;
    } else if (op.kind === 'lf') { lines.push(line); line = ''; lastWasImage = false; }
    else if (op.kind === 'cut') { cuts++; lastWasImage = false; }
    else if (op.kind === 'image') {
      const bmp = bitmapOf(op.width, op.height, op.bits);
      if (op.print) { addBand(bmp); } else stored = bmp;
    } else if (op.kind === 'print-stored' && stored) { addBand(stored); stored = undefined; }
    else if (op.kind === 'unknown') unknown.push(op);
  }
  if (line) lines.push(line);
  return { lines: lines.map((l) => l.trim()).filter((l) => l.length > 0), images, cuts, unknown };

  function addBand(band: Bitmap): void {
    const last = images[images.length - 1];
    if (lastWasImage && last && last.width === band.width) {
      const dots = new Uint8Array(last.dots.length + band.dots.length);
      dots.set(last.dots);
      dots.set(band.dots, last.dots.length);
      images[images.length - 1] = { width: last.width, height: last.height + band.height, dots };
    } else images.push(band);
    lastWasImage = true;
  }
}

/** A bitmap as RGBA pixels (black dots on white), for jsQR. */
export function rgba(bmp: Bitmap): Uint8ClampedArray {
  const out = new Uint8ClampedArray(bmp.width * bmp.height * 4);
  for (let i = 0; i < bmp.dots.length; i++) {
    const v = bmp.dots[i] ? 0 : 255;
    out[i * 4] = v; out[i * 4 + 1] = v; out[i * 4 + 2] = v; out[i * 4 + 3] = 255;
  }
  return out;
}

type JsQr = typeof import('jsqr').default;
// jsqr is CommonJS with a default export: under nodenext it arrives as the module object or the function.
const jsQR: JsQr = ((jsqrModule as unknown as { default?: JsQr }).default ?? jsqrModule) as unknown as JsQr;

/** The text of the QR code in a printed image (jsQR), or null. */
export function readQr(bmp: Bitmap): string | null {
  return jsQR(rgba(bmp), bmp.width, bmp.height)?.data ?? null;
}
