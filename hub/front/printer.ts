/**
 * A receipt printer on the hall LAN (raw TCP, usually port 9100), spoken to in ESC/POS.
 *
 * Status comes from the real-time status commands, DLE EOT n (Epson ESC/POS reference,
 * "DLE EOT: transmit real-time status"), which a printer answers even while offline:
 *   n=1 printer status   bit 3: offline
 *   n=2 offline cause    bit 2: cover open, bit 5: stopped by paper end, bit 6: error
 *   n=4 roll paper       bits 2–3: paper near end, bits 5–6: paper end
 * Every reply byte has bit 1 and bit 4 set and bits 0 and 7 clear (0xx1xx10).
 *
 * A print is one connection: status first (a printer that cannot print is not sent the job),
 * then the job, then the status again. A printer runs the bytes of one connection in order,
 * so the status after the job tells whether it ran out of paper or opened its cover while
 * printing it. Other bytes the printer sends back (the job's own GS r reply) are skipped: they
 * never match the DLE EOT pattern (bit 4 clear).
 */

import net from 'node:net';

export const DLE_EOT = [0x10, 0x04] as const;
export const STATUS_QUERY = Buffer.from([...DLE_EOT, 1, ...DLE_EOT, 2, ...DLE_EOT, 4]);
const STATUS_MASK = 0x93; // bits 0, 1, 4, 7: fixed in every DLE EOT reply
const STATUS_FIXED = 0x12;

export type Paper = 'ok' | 'low' | 'out';
/** Why a printer cannot print, or null. */
export type PrinterFault = 'unreachable' | 'offline' | 'cover-open' | 'paper-out' | 'error' | null;

export interface PrinterStatus {
  reachable: boolean;
  online: boolean;
  coverOpen: boolean;
  paper: Paper;
  error: boolean;
  fault: PrinterFault;
}

/** What the kiosk says for each fault, Chinese first (the citizen reads it). */
export const FAULT_TEXT: Record<Exclude<PrinterFault, null>, string> = {
  unreachable: '取号机打印机无法连接，请到服务台取号 (printer unreachable)',
  offline: '打印机离线，请到服务台取号 (printer offline)',
  'cover-open': '打印机盖未关好，请联系工作人员 (printer cover open)',
  'paper-out': '打印纸已用完，请到服务台取号 (paper out)',
  error: '打印机故障，请到服务台取号 (printer error)',
};

export function isStatusByte(b: number): boolean {
  return (b & STATUS_MASK) === STATUS_FIXED;
}

/** The status from the replies to DLE EOT 1, 2 and 4, in that order. */
export function decodeStatus(s1: number, s2: number, s4: number): PrinterStatus {
  const offline = (s1 & 0x08) !== 0;
  const coverOpen = (s2 & 0x04) !== 0;
  const error = (s2 & 0x40) !== 0;
  const paper: Paper = (s4 & 0x60) !== 0 || (s2 & 0x20) !== 0 ? 'out' : (s4 & 0x0c) !== 0 ? 'low' : 'ok';
  const fault: PrinterFault = coverOpen ? 'cover-open' : paper === 'out' ? 'paper-out' : error ? 'error' : offline ? 'offline' : null;
  return { reachable: true, online: !offline, coverOpen, paper, error, fault };
}

export const UNREACHABLE: PrinterStatus = { reachable: false, online: false, coverOpen: false, paper: 'ok', error: false, fault: 'unreachable' };

export interface PrintResult {
  before: PrinterStatus;
  /** Undefined when the job was not sent (the printer could not print). */
  after?: PrinterStatus;
  /** Null when the ticket is in the citizen's hand. */
  fault: PrinterFault;
}

export interface Printer {
  status(): Promise<PrinterStatus>;
  print(job: Buffer): Promise<PrintResult>;
}

/** An ESC/POS printer at host:port. */
export class NetPrinter implements Printer {
  constructor(private readonly host: string, private readonly port: number, private readonly timeoutMs = 3000) {}

  async status(): Promise<PrinterStatus> {
    return this.session(async (s) => s.query());
  }

  async print(job: Buffer): Promise<PrintResult> {
    return this.session(async (s) => {
      const before = await s.query();
      if (before.fault) return { before, fault: before.fault };
      s.write(job);
      const after = await s.query();
      return { before, after, fault: after.fault };
    }, (error) => ({ before: UNREACHABLE, fault: 'unreachable', error }));
  }

  private session<T>(run: (s: Session) => Promise<T>, onError?: (error: unknown) => T): Promise<T> {
    return new Promise<T>((resolve) => {
      const socket = net.connect({ host: this.host, port: this.port });
      let done = false;
      const finish = (value: T) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(value);
      };
      const fail = (error: unknown) => finish(onError ? onError(error) : (UNREACHABLE as T));
      // One deadline for the whole exchange: a printer that stops answering is unreachable.
      const timer = setTimeout(() => fail(new Error('printer: no answer')), this.timeoutMs);
      socket.on('error', fail);
      socket.on('close', () => fail(new Error('printer: connection closed')));
      socket.on('connect', () => {
        const session = new Session(socket);
        run(session).then(finish, fail);
      });
    });
  }
}

/** One connection's status reads: three DLE EOT replies per query, other bytes skipped. */
class Session {
  private waiting: ((b: number) => void) | undefined;
  private readonly bytes: number[] = [];

  constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const b of chunk) if (isStatusByte(b)) this.bytes.push(b);
      this.pump();
    });
  }

  write(data: Buffer): void {
    this.socket.write(data);
  }

  async query(): Promise<PrinterStatus> {
    this.socket.write(STATUS_QUERY);
    const s1 = await this.next();
    const s2 = await this.next();
    const s4 = await this.next();
    return decodeStatus(s1, s2, s4);
  }

  private next(): Promise<number> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.pump();
    });
  }

  private pump(): void {
    if (this.waiting && this.bytes.length) {
      const w = this.waiting;
      this.waiting = undefined;
      w(this.bytes.shift()!);
    }
  }
}
