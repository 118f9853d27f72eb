/**
 * The rating link's QR code, one function for every surface that shows it (the kiosk's printed
 * ticket, the dashboard). The link itself is AppService.ratingLink (a signed /r/<token> URL).
 */

import QRCode from 'qrcode';

/** A PNG of `link` as a QR code: error correction M (a ticket gets creased), `scale` pixels a module. */
export function ratingQrPng(link: string, scale = 4): Promise<Buffer> {
  return QRCode.toBuffer(link, { type: 'png', errorCorrectionLevel: 'M', margin: 2, scale });
}
