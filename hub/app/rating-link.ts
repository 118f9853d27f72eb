/**
 * The phone-rating link of a ticket and its QR code (qrcode, a kept library). Pure: the caller
 * gives the hall's public URL (setting `publicUrl`, or the origin the request came to) and the
 * ticket's signed token (Channels.tokenFor), so the printed ticket, the window's done screen and
 * the dashboard all print the same absolute link (AppService.ratingLink signs the token).
 */

import QRCode from 'qrcode';

/** `https://hall.example/r/<token>`; a trailing slash on the public URL is dropped. Refuses a relative base: a QR must open on a phone. */
export function ratingLink(publicUrl: string, ticket: string): string {
  const base = publicUrl.replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/]+/.test(base)) throw new Error(`publicUrl: expected an absolute http(s) URL, got ${JSON.stringify(publicUrl)}`);
  return `${base}/r/${encodeURIComponent(ticket)}`;
}

// Error correction M (15 %): survives a crease on a paper ticket; margin 2 modules keeps it small.
const QR_OPTIONS = { errorCorrectionLevel: 'M', margin: 2 } as const;

/** A PNG: `width` pixels across for a screen, or `scale` pixels a module for a printer's raster (the kiosk's ticket). */
export function ratingQrPng(link: string, size: { width?: number; scale?: number } = { width: 240 }): Promise<Buffer> {
  return QRCode.toBuffer(link, { ...QR_OPTIONS, type: 'png', ...(size.scale ? { scale: size.scale } : { width: size.width ?? 240 }) });
}

export function ratingQrSvg(link: string): Promise<string> {
  return QRCode.toString(link, { ...QR_OPTIONS, type: 'svg' });
}
