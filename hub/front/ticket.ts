/**
 * The printed ticket (取号单), as ESC/POS bytes for a 58/80 mm thermal printer.
 *
 * Rendered by receiptline (ofdl/receiptline) rather than @node-escpos/core: receiptline turns a
 * small text document into ESC/POS with GB18030 (FS & Kanji mode, via iconv-lite) and raster
 * images (GS 8 L / GS ( L) built in, and needs only iconv-lite and pngjs; @node-escpos/core
 * wants an adapter package per transport and pulls get-pixels, ndarray and qr-image at '*'
 * versions. The QR code is our own PNG (hub/app/rating-link.ts, the qrcode library) printed as
 * an image, so every printer shows the same code, not its firmware's own QR rendering.
 */

import receiptline from 'receiptline';
import { ratingQrPng } from '../app/rating-link.js';

export interface TicketFace {
  hallName: string;
  number: string;
  itemName: string;
  /** The names of the windows that serve the item. */
  windows: string[];
  ahead: number;
  issuedAt: number;
  utcOffsetMinutes: number;
  ratingLink: string;
  /** The public lookup code. */
  code: string;
  /** Characters per line: 32 for 58 mm paper, 42 or 48 for 80 mm. */
  cpl?: number;
}

/** receiptline's markup characters, escaped so an item name prints as written. */
export function escapeLine(text: string): string {
  return text.replace(/[\\|{}~_"`^]/g, (c) => '\\' + c).replace(/^([-=])/, '\\$1');
}

export function localTime(t: number, utcOffsetMinutes: number): string {
  return new Date(t + utcOffsetMinutes * 60_000).toISOString().slice(0, 16).replace('T', ' ');
}

/** The ticket's text lines as the citizen reads them (the QR sits between the fifth and sixth). */
export function ticketLines(face: TicketFace): string[] {
  return [
    face.hallName,
    face.number,
    face.itemName,
    `办理窗口：${face.windows.length ? face.windows.join('、') : '请留意叫号'}`,
    `前面还有 ${face.ahead} 人`,
    `取号时间：${localTime(face.issuedAt, face.utcOffsetMinutes)}`,
    '办完请扫码评价（好差评）',
    face.ratingLink,
    `查询码：${face.code}`,
  ];
}

export async function renderTicket(face: TicketFace): Promise<Buffer> {
  const [hall, number, item, windows, ahead, time, rate, link, code] = ticketLines(face).map(escapeLine);
  const qr = (await ratingQrPng(face.ratingLink, { scale: 4 })).toString('base64');
  // ^^^ : triple size for the number; "|" around a line centres it.
  const doc = [
    `|"${hall}"|`, '', `|^^^${number}|`, `|^${item}|`, '---', windows, ahead, time, '---',
    `{image:${qr}}`, `|${rate}|`, `|${link}|`, code, '',
  ].join('\n');
  const out = receiptline.transform(doc, { command: 'escpos', encoding: 'gb18030', cpl: face.cpl ?? 42, cutting: true, gradient: false });
  return Buffer.from(out, 'binary');
}
