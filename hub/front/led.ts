/**
 * LED strip controllers (条屏) beside or above the windows: an adapter interface, and one
 * implementation sending UDP datagrams.
 *
 * The UDP frame (one datagram per announcement, big-endian):
 *   0      2 bytes  magic "SN" (0x53 0x4E)
 *   2      1 byte   frame version, 1
 *   3      2 bytes  sequence number, wrapping at 65536
 *   5      1 byte   length L of the window id (ASCII)
 *   6      L bytes  the window id
 *   6+L    2 bytes  length T of the text
 *   8+L    T bytes  the text in GB18030 (what most Chinese LED controllers take): 请A042号到三号窗口办理
 * Controllers that want another frame get another adapter; the hub calls show() on each start.
 */

import dgram from 'node:dgram';
import iconv from 'iconv-lite';
import type { Announcement } from './announcer.js';

export interface LedAdapter {
  show(a: Pick<Announcement, 'win' | 'number' | 'text'>): void;
  close(): void;
}

export function ledFrame(seq: number, win: string, text: string): Buffer {
  const w = Buffer.from(win, 'ascii');
  const t = iconv.encode(text, 'gb18030');
  const out = Buffer.alloc(8 + w.length + t.length);
  out.write('SN', 0, 'ascii');
  out[2] = 1;
  out.writeUInt16BE(seq & 0xffff, 3);
  out[5] = w.length;
  w.copy(out, 6);
  out.writeUInt16BE(t.length, 6 + w.length);
  t.copy(out, 8 + w.length);
  return out;
}

export class UdpLed implements LedAdapter {
  private readonly socket = dgram.createSocket('udp4');
  private seq = 0;

  constructor(private readonly host: string, private readonly port: number, private readonly onError: (error: unknown) => void = () => undefined) {
    this.socket.on('error', onError);
    this.socket.unref();
  }

  show(a: Pick<Announcement, 'win' | 'number' | 'text'>): void {
    this.socket.send(ledFrame(this.seq++, a.win, a.text), this.port, this.host, (error) => { if (error) this.onError(error); });
  }

  close(): void {
    this.socket.close();
  }
}
