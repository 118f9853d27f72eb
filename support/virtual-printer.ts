/**
 * A virtual ESC/POS receipt printer on a real TCP socket (as a LAN printer on port 9100): it
 * reads the stream command by command (support/escpos.ts), answers the real-time status
 * commands DLE EOT 1/2/4 and GS r 1 from its state (paper ok, low or out; cover open; offline),
 * and keeps every byte it printed, job by job (a job ends at a cut). With paper out or the cover
 * open it prints nothing, as a real one. `paperOutAfter` runs the roll out in the middle of
 * a later job, to test a print that fails half way.
 */

import net from 'node:net';
import { nextOp } from './escpos.js';
import type { Paper } from '../hub/front/printer.js';

export interface VirtualPrinterState {
  paper: Paper;
  coverOpen: boolean;
  offline: boolean;
  /** Printed bytes after which the paper runs out (undefined: never). */
  paperOutAfter?: number;
}

export class VirtualPrinter {
  readonly state: VirtualPrinterState = { paper: 'ok', coverOpen: false, offline: false };
  /** Every byte received, in order (status queries included). */
  readonly received: Buffer[] = [];
  /** Printed jobs: the bytes from one cut to the next. */
  readonly jobs: Buffer[] = [];
  statusQueries = 0;
  private current: number[] = [];
  private printed = 0;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  async start(port = 0): Promise<number> {
    this.server = net.createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  /** Whether it prints now: paper, closed cover, online. */
  canPrint(): boolean {
    return this.state.paper !== 'out' && !this.state.coverOpen && !this.state.offline;
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending: Buffer = Buffer.alloc(0);
    let kanji = false;
    socket.on('data', (chunk: Buffer) => {
      this.received.push(chunk);
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let i = 0;
      while (i < pending.length) {
        const next = nextOp(pending, i, kanji);
        if (!next) break;
        const bytes = pending.subarray(i, i + next.len);
        i += next.len;
        const op = next.op;
        if (op.kind === 'status') { this.statusQueries++; socket.write(Buffer.from([this.statusByte(op.n)])); continue; }
        if (op.kind === 'transmit') { socket.write(Buffer.from([this.paperSensor()])); continue; }
        if (op.kind === 'kanji') kanji = op.on;
        if (!this.canPrint()) continue;
        for (const b of bytes) this.current.push(b);
        this.printed += bytes.length;
        if (this.state.paperOutAfter !== undefined && this.printed >= this.state.paperOutAfter) {
          this.state.paper = 'out';
          this.state.paperOutAfter = undefined;
        }
        if (op.kind === 'cut') this.jobs.push(Buffer.from(this.current.splice(0)));
      }
      pending = Buffer.from(pending.subarray(i));
    });
  }

  /** DLE EOT n replies (Epson ESC/POS): 0xx1xx10 with the state's bits. */
  statusByte(n: number): number {
    const s = this.state;
    let b = 0x12;
    if (n === 1 && !this.canPrint()) b |= 0x08;
    if (n === 2) {
      if (s.coverOpen) b |= 0x04;
      if (s.paper === 'out') b |= 0x20;
    }
    if (n === 4) {
      if (s.paper === 'low') b |= 0x0c;
      if (s.paper === 'out') b |= 0x6c;
    }
    return b;
  }

  /** GS r 1: paper sensor (bits 0–1 near end, 2–3 roll end; bit 4 clear). */
  private paperSensor(): number {
    return this.state.paper === 'out' ? 0x0f : this.state.paper === 'low' ? 0x03 : 0x00;
  }
}
