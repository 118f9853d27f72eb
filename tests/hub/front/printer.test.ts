/**
 * The kiosk's printer path without a hub: the ticket rendered by receiptline, sent over a real
 * TCP socket to the virtual printer (support/virtual-printer.ts), read back from its captured
 * bytes (GB18030 text, the QR image decoded by jsQR), and the DLE EOT status in each state.
 */

import { NetPrinter, decodeStatus } from '../../../hub/front/printer.js';
import { renderTicket, ticketLines, type TicketFace } from '../../../hub/front/ticket.js';
import { decodeTicket, readQr } from '../../../support/escpos.js';
import { VirtualPrinter } from '../../../support/virtual-printer.js';

const face: TicketFace = {
  hallName: '三诺政务服务中心', number: 'A042', itemName: '个人所得税申报 | 更正', windows: ['一号窗口', '三号窗口'], ahead: 2,
  issuedAt: Date.UTC(2026, 11, 3, 1, 5), utcOffsetMinutes: 480, ratingLink: 'http://hall.example:8080/r/20261203-A042.abcdefghijklmnop', code: '7K3QX9MB',
};

let printer: VirtualPrinter;
beforeAll(async () => { printer = new VirtualPrinter(); await printer.start(); });
afterAll(() => printer.stop());
beforeEach(() => { Object.assign(printer.state, { paper: 'ok', coverOpen: false, offline: false, paperOutAfter: undefined }); printer.jobs.length = 0; });

test('a ticket goes over TCP and prints its text in GB18030 and its rating link as a QR code', async () => {
  const job = await renderTicket(face);
  const result = await new NetPrinter('127.0.0.1', printer.port).print(job);
  expect(result.fault).toBeNull();
  expect(printer.jobs).toHaveLength(1);
  const paper = decodeTicket(printer.jobs[0]);
  expect(paper.unknown).toEqual([]);
  expect(paper.cuts).toBe(1);
  // A long link wraps at the paper's width: the lines joined read it whole.
  for (const line of ticketLines(face)) expect(paper.lines.join('')).toContain(line);
  expect(paper.images).toHaveLength(1);
  const img = paper.images[0];
  expect(readQr(img)).toBe(face.ratingLink);
  // The Chinese really went as GB18030: 个 is C2 B8 there (E4 B8 AA in UTF-8).
  expect(printer.jobs[0].includes(Buffer.from([0xb8, 0xf6]))).toBe(true);
});

test('status from DLE EOT: paper low, paper out, cover open, offline, and a printer that is not there', async () => {
  const p = new NetPrinter('127.0.0.1', printer.port, 1000);
  expect(await p.status()).toMatchObject({ reachable: true, online: true, paper: 'ok', fault: null });
  printer.state.paper = 'low';
  expect(await p.status()).toMatchObject({ online: true, paper: 'low', fault: null });
  printer.state.paper = 'out';
  expect(await p.status()).toMatchObject({ online: false, paper: 'out', fault: 'paper-out' });
  printer.state.paper = 'ok';
  printer.state.coverOpen = true;
  expect(await p.status()).toMatchObject({ online: false, coverOpen: true, fault: 'cover-open' });
  printer.state.coverOpen = false;
  printer.state.offline = true;
  expect(await p.status()).toMatchObject({ online: false, fault: 'offline' });
  expect(decodeStatus(0x12, 0x12, 0x12).fault).toBeNull();
  const gone = new VirtualPrinter();
  const port = await gone.start();
  await gone.stop();
  expect(await new NetPrinter('127.0.0.1', port, 500).status()).toMatchObject({ reachable: false, fault: 'unreachable' });
});

test('paper out: the job is not sent; paper running out half way: the print reports paper-out', async () => {
  const job = await renderTicket(face);
  const p = new NetPrinter('127.0.0.1', printer.port);
  printer.state.paper = 'out';
  const refused = await p.print(job);
  expect(refused.fault).toBe('paper-out');
  expect(refused.after).toBeUndefined();
  expect(printer.jobs).toHaveLength(0);
  printer.state.paper = 'ok';
  printer.state.paperOutAfter = Math.floor(job.length / 2);
  const half = await p.print(job);
  expect(half.before.fault).toBeNull();
  expect(half.fault).toBe('paper-out');
  expect(printer.jobs).toHaveLength(0);
});
