/**
 * The ticket kiosk (取号机): the touchscreen page at /kiosk/ and its receipt printer.
 *
 *   GET  /kiosk/                 the page (a kiosk API token in its URL fragment: /kiosk/#token=…)
 *   GET  /api/kiosk/menu         kiosk, supervisor: items by department, priority classes, the printer's state
 *   POST /api/kiosk/tickets      kiosk, supervisor: { item, priority, caseNo? } → the printed ticket
 *   GET  /api/kiosk/printer      kiosk, supervisor, technician: the printer's state and alert
 *
 * Issuing: the printer's status is read first (DLE EOT); a printer that cannot print refuses
 * the ticket before anything is issued (503, a Chinese message, nothing counts). Then the ticket
 * is issued, rendered and printed; if the print fails (paper out half way, cover opened, printer
 * gone) the ticket is voided with the reason, and the kiosk says so. A second tap for the same
 * item and class at the same kiosk within front.kiosk.doubleTapMs gets the first tap's answer.
 * Print jobs run one at a time (one printer).
 *
 * Paper low/out, cover open, offline, unreachable: sannuo_printer_alert{alert} is 1, the
 * dashboard shows it (GET /api/kiosk/printer), and it is logged when it starts and ends. The
 * printer is read every front.printer.pollMs while idle, so the alert shows before a citizen
 * finds the kiosk empty.
 */

import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Feature, FeatureDeps } from '../feature.js';
import type { QueueService } from '../queue/service.js';
import { PRIORITY_CLASSES, QueueError, type PriorityClass } from '../queue/types.js';
import { voidTicketRow } from '../queue/front.js';
import { ticketCode } from '../queue/ticket-code.js';
import { userOf } from '../app/auth.js';
import { useJsonSchemas } from '../http/validation.js';
import { httpErrorHandler } from '../http/errors.js';
import { FAULT_TEXT, NetPrinter, UNREACHABLE, type Printer, type PrinterFault, type PrinterStatus } from './printer.js';
import { renderTicket } from './ticket.js';
import { servePage } from './static-files.js';
import type { Settings } from '../settings.js';

export const PRINTER_ALERTS = ['paper-low', 'paper-out', 'cover-open', 'offline', 'unreachable', 'error'] as const;
export type PrinterAlert = (typeof PRINTER_ALERTS)[number];
export const KIOSK_OUTCOMES = ['printed', 'voided', 'refused', 'repeat'] as const;

export interface KioskOptions {
  queue: QueueService;
  hallName: string;
  ratingLink: (ticketId: string) => string;
  ticketKey: Uint8Array;
  settings: Settings['front'];
  /** The hub's metrics registry; none in a district (one registry, many halls). */
  registry?: Registry;
  /** A printer other than the LAN one of the settings (tests). */
  printer?: Printer;
}

export interface KioskTicket {
  number: string; item: string; itemName: string; priority: PriorityClass; ahead: number; windows: string[];
  issuedAt: number; code: string; lookup: string; ratingLink: string; repeat?: boolean;
}

type Answer = { status: 201; body: KioskTicket } | { status: 503; body: { error: string; message: string; field: null; reason: PrinterFault; voided?: string } };

const NO_PRINTER: Printer = { status: async () => UNREACHABLE, print: async () => ({ before: UNREACHABLE, fault: 'unreachable' }) };

function alertOf(s: PrinterStatus): PrinterAlert | null {
  if (s.fault === 'paper-out' || s.fault === 'cover-open' || s.fault === 'offline' || s.fault === 'unreachable' || s.fault === 'error') return s.fault;
  return s.paper === 'low' ? 'paper-low' : null;
}

export class Kiosk implements Feature {
  readonly name = 'kiosk';
  private readonly printer: Printer;
  private last: PrinterStatus | undefined;
  private lastAt = 0;
  private alert: PrinterAlert | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly taps = new Map<string, { at: number; answer: Promise<Answer> }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly alertGauge: Gauge<'alert'> | undefined;
  private readonly tickets: Counter<'outcome'> | undefined;

  constructor(private readonly deps: FeatureDeps, private readonly o: KioskOptions) {
    const p = o.settings.printer;
    this.printer = o.printer ?? (p.host ? new NetPrinter(p.host, p.port, p.timeoutMs) : NO_PRINTER);
    if (o.registry) {
      this.alertGauge = (o.registry.getSingleMetric('sannuo_printer_alert') as Gauge<'alert'> | undefined)
        ?? new Gauge({ name: 'sannuo_printer_alert', help: "1 while the kiosk's printer has this alert (paper low or out, cover open, offline, unreachable, error)", labelNames: ['alert'], registers: [o.registry] });
      this.tickets = (o.registry.getSingleMetric('sannuo_kiosk_tickets_total') as Counter<'outcome'> | undefined)
        ?? new Counter({ name: 'sannuo_kiosk_tickets_total', help: 'Kiosk ticket requests: printed, voided (the print failed), refused (the printer could not print), repeat (a double tap)', labelNames: ['outcome'], registers: [o.registry] });
      for (const a of PRINTER_ALERTS) this.alertGauge.set({ alert: a }, 0);
      for (const k of KIOSK_OUTCOMES) this.tickets.inc({ outcome: k }, 0);
    }
  }

  start(): void {
    if (this.o.printer || this.o.settings.printer.host) {
      void this.poll();
      this.timer = setInterval(() => void this.poll(), this.o.settings.printer.pollMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The printer's state and alert, read now (after any print under way). */
  async printerState(): Promise<{ configured: boolean; status: PrinterStatus; alert: PrinterAlert | null; message: string | null; at: number }> {
    // No printer set up (front.printer.host empty): nothing to warn about, and the kiosk refuses every ticket.
    if (!this.o.printer && !this.o.settings.printer.host) return { configured: false, status: UNREACHABLE, alert: null, message: '本机未连接打印机，请到服务台取号 (no printer configured)', at: this.deps.now() };
    await this.exclusive(() => this.read());
    const status = this.last!;
    return { configured: true, status, alert: this.alert, message: status.fault ? FAULT_TEXT[status.fault] : status.paper === 'low' ? '打印纸即将用完，请及时更换 (paper low)' : null, at: this.lastAt };
  }

  private async poll(): Promise<void> {
    await this.exclusive(() => this.read()).catch((error: unknown) => this.deps.log.error({ err: error }, 'kiosk: printer poll failed'));
  }

  private async read(): Promise<PrinterStatus> {
    return this.seen(await this.printer.status());
  }

  /** Records a status read: the alert gauge, and a log line when the alert changes. */
  private seen(s: PrinterStatus): PrinterStatus {
    this.last = s;
    this.lastAt = this.deps.now();
    const alert = alertOf(s);
    if (alert !== this.alert) {
      if (alert) this.deps.log.warn({ alert, paper: s.paper, coverOpen: s.coverOpen, online: s.online }, `kiosk printer: ${alert}`);
      else this.deps.log.info({ was: this.alert }, 'kiosk printer: ready again');
      this.alert = alert;
    }
    for (const a of PRINTER_ALERTS) this.alertGauge?.set({ alert: a }, a === alert ? 1 : 0);
    return s;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** One tap: a ticket printed, or the reason there is none. A repeat within doubleTapMs gets the first answer. */
  async tap(kiosk: string, input: { item: string; priority: PriorityClass; caseNo?: string | null }): Promise<Answer> {
    const now = this.deps.now();
    for (const [k, t] of this.taps) if (now - t.at > this.o.settings.kiosk.doubleTapMs) this.taps.delete(k);
    const key = JSON.stringify([kiosk, input.item, input.priority, input.caseNo ?? null]);
    const seen = this.taps.get(key);
    if (seen) {
      this.tickets?.inc({ outcome: 'repeat' });
      const first = await seen.answer;
      return first.status === 201 ? { status: 201, body: { ...first.body, repeat: true } } : first;
    }
    const answer = this.exclusive(() => this.issue(input));
    this.taps.set(key, { at: now, answer });
    // Only an issued ticket stands for the taps after it: after a refusal, the next tap tries the printer again.
    const forget = () => { if (this.taps.get(key)?.answer === answer) this.taps.delete(key); };
    answer.then((a) => { if (a.status !== 201) forget(); }, forget);
    return answer;
  }

  private async issue(input: { item: string; priority: PriorityClass; caseNo?: string | null }): Promise<Answer> {
    const { queue } = this.o;
    const setup = await queue.setup();
    const item = setup.items.find((i) => i.code === input.item);
    if (!item) throw new QueueError(400, `item: service item ${input.item} is not set up in this hall`, 'item');
    // The printer first: a ticket nobody can hold is never issued.
    const before = this.seen(await this.printer.status());
    if (before.fault) {
      this.tickets?.inc({ outcome: 'refused' });
      return { status: 503, body: { error: 'printer', message: FAULT_TEXT[before.fault], field: null, reason: before.fault } };
    }
    const issued = await queue.issueTicket({ item: input.item, priority: input.priority, caseNo: input.caseNo ?? null, channel: 'kiosk' });
    const code = ticketCode(this.o.ticketKey, issued.id);
    const day = queue.dayOf(issued.issuedAt);
    const windows = setup.windows.filter((w) => w.items.includes(item.code)).map((w) => w.name);
    const ticket: KioskTicket = {
      number: issued.number, item: item.code, itemName: item.name, priority: issued.priority, ahead: issued.ahead, windows,
      issuedAt: issued.issuedAt, code, lookup: `/api/queue/tickets/${issued.number}?day=${day}&code=${code}`, ratingLink: this.o.ratingLink(issued.id),
    };
    const job = await renderTicket({
      hallName: this.o.hallName, number: ticket.number, itemName: item.name, windows, ahead: ticket.ahead, issuedAt: ticket.issuedAt,
      utcOffsetMinutes: queue.policy.utcOffsetMinutes, ratingLink: ticket.ratingLink, code, cpl: this.o.settings.printer.cpl,
    });
    const result = await this.printer.print(job);
    if (result.after) this.seen(result.after);
    else this.seen(result.before);
    if (!result.fault) {
      this.tickets?.inc({ outcome: 'printed' });
      return { status: 201, body: ticket };
    }
    // The print failed: the ticket is not in anyone's hand, so it must not wait in the line.
    const reason = `print failed: ${result.fault}`;
    const effects = await this.deps.db.tx((tx) => voidTicketRow(tx, issued.id, reason, this.deps.now(), day));
    this.deps.bus.emit('queueChanged', { effects });
    this.tickets?.inc({ outcome: 'voided' });
    this.deps.log.warn({ ticket: issued.id, fault: result.fault }, 'kiosk: print failed; ticket voided');
    return { status: 503, body: { error: 'printer', message: `${FAULT_TEXT[result.fault]}；${ticket.number} 号未打印成功，已作废`, field: null, reason: result.fault, voided: ticket.number } };
  }

  routes(app: FastifyInstance): void {
    const { auth } = this.deps;
    servePage(app, 'kiosk');
    app.register(async (scope) => {
      useJsonSchemas(scope);
      scope.setErrorHandler(httpErrorHandler);
      scope.get('/api/kiosk/menu', { onRequest: auth.requireRole('kiosk', 'supervisor') }, async () => {
        const setup = await this.o.queue.setup();
        const departments = setup.departments.map((d) => ({
          id: d.id, name: d.name,
          items: setup.items.filter((i) => i.department === d.id).map((i) => ({ code: i.code, name: i.name, windows: setup.windows.filter((w) => w.items.includes(i.code)).map((w) => w.name) })),
        })).filter((d) => d.items.length > 0);
        return { hallName: this.o.hallName, departments, priorities: PRIORITY_CLASSES, printer: await this.printerState() };
      });
      scope.get('/api/kiosk/printer', { onRequest: auth.requireRole('kiosk', 'supervisor', 'technician') }, async () => this.printerState());
      scope.post<{ Body: { item: string; priority: PriorityClass; caseNo?: string | null } }>('/api/kiosk/tickets', {
        onRequest: auth.requireRole('kiosk', 'supervisor'),
        schema: {
          body: {
            type: 'object', required: ['item', 'priority'], additionalProperties: false,
            properties: {
              item: { type: 'string', minLength: 1, maxLength: 64 },
              priority: { type: 'string', enum: PRIORITY_CLASSES },
              // The appointment or case number (预约号/办件编号) typed into the check-in box.
              caseNo: { type: ['string', 'null'], minLength: 1, maxLength: 64 },
            },
          },
        },
      }, async (req, reply) => {
        if (req.body.priority === 'appointment' && !req.body.caseNo) {
          return reply.code(400).send({ error: 'bad-request', message: 'body.caseNo: 预约取号请输入预约号 (an appointment ticket needs its appointment number)', field: 'caseNo' });
        }
        const answer = await this.tap(userOf(req).username, req.body);
        return reply.code(answer.status).send(answer.body);
      });
    });
  }
}
