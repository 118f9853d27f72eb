/**
 * A hall for queue tests: a real SQLite file in a temporary directory, the real Ledger, the
 * QueueService on a clock the test moves, and devices that send well-formed events through
 * applyEvent inside a transaction, after an 'event' ledger row, as ingest does.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { validateEvent, type AnyDeviceEvent, type EventBodies, type EventType, type Role } from '../../../firmware/core/protocol.js';
import type { Db } from '../../../hub/db/db.js';
import { Bus } from '../../../hub/bus.js';
import { migrate } from '../../../hub/db/migrate.js';
import { openSqlite } from '../../../hub/db/sqlite.js';
import { Ledger } from '../../../hub/ledger/ledger.js';
import { QueueService, type Applied, type Effect, type QueuePolicy } from '../../../hub/queue/service.js';

export const START = Date.UTC(2025, 2, 14, 0, 30); // 08:30 in the hall (UTC+8), a Friday

export interface TestDevice { id: string; role: Role; win: string; boot: number; seq: number }

export class Hall {
  time = START;
  /** Boot number of devices created from now on (a restarted test process starts a new boot). */
  boot = 1;
  readonly sent: Effect[][] = [];
  private devices = new Map<string, TestDevice>();

  private constructor(readonly dir: string, readonly db: Db, readonly ledger: Ledger, public queue: QueueService) {}

  static async open(policy: Partial<QueuePolicy> = {}, dir = mkdtempSync(path.join(tmpdir(), 'sannuo-queue-'))): Promise<Hall> {
    const db = await openSqlite(path.join(dir, 'hub.db'));
    const ledger = new Ledger(db, { hall: 'hall-1', hubKey: new Uint8Array(32).fill(7), checkpointFile: path.join(dir, 'checkpoint.json') });
    await ledger.init();
    await migrate(db, QueueService.migrations);
    let hall: Hall | undefined = undefined;
    try {
      const bus = new Bus();
      bus.on('queueChanged', 'harness', ({ effects }) => { hall!.sent.push(effects); });
      const queue = new QueueService({ db, ledger, hall: 'hall-1', now: () => hall!.time, log: pino({ level: 'silent' }), policy, bus });
      hall = new Hall(dir, db, ledger, queue);
      return hall;
    } catch (error) {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async close(remove = true): Promise<void> {
    await this.db.close();
    if (remove) rmSync(this.dir, { recursive: true, force: true });
  }

  advance(ms: number): number {
    this.time += ms;
    return this.time;
  }

  device(id: string, role: Role, win: string): TestDevice {
    let d = this.devices.get(id);
    if (!d) {
      d = { id, role, win, boot: this.boot, seq: 0 };
      this.devices.set(id, d);
    }
    return d;
  }
  display(win: string): TestDevice { return this.device(`disp-${win}`, 'display', win); }
  pad(win: string): TestDevice { return this.device(`pad-${win}`, 'pad', win); }

  /** A well-formed event from this device (checked by the protocol's own validator). */
  event<K extends EventType>(d: TestDevice, type: K, body: EventBodies[K], t = this.time): AnyDeviceEvent {
    const e = { v: 1, dev: d.id, boot: d.boot, seq: ++d.seq, t, type, body } as AnyDeviceEvent;
    const problem = validateEvent(e);
    if (problem) throw new Error(`test built a bad event: ${problem.message}`);
    return e;
  }

  /** As ingest does: one transaction, the event's ledger row, then the queue. A refusal rolls nothing back here,
   *  so a test can see that the queue wrote nothing before refusing. */
  async apply(d: TestDevice, e: AnyDeviceEvent): Promise<Applied> {
    return this.db.tx(async (tx) => {
      await this.ledger.append(tx, [{ kind: 'event', dev: e.dev, boot: e.boot, seq: e.seq, at: this.time, body: e }]);
      const applied = await this.queue.applyEvent(tx, e, { id: d.id, role: d.role, win: d.win });
      if (applied.verdict === 'refused') {
        await this.ledger.append(tx, [{ kind: 'refusal', dev: e.dev, boot: e.boot, seq: e.seq, at: this.time, body: { reason: applied.reason } }]);
      }
      return applied;
    });
  }

  async send<K extends EventType>(d: TestDevice, type: K, body: EventBodies[K], t = this.time): Promise<Applied> {
    return this.apply(d, this.event(d, type, body, t));
  }

  call(win: string, staff: string | null = null) { return this.send(this.display(win), 'call', { win, staff }); }
  recall(win: string, ticket: string) { return this.send(this.display(win), 'recall', { win, ticket }); }
  noShow(win: string, ticket: string) { return this.send(this.display(win), 'noShow', { win, ticket }); }
  transfer(win: string, ticket: string, to: { win?: string; item?: string }) {
    return this.send(this.display(win), 'transfer', { win, ticket, toWin: to.win ?? null, toItem: to.item ?? null });
  }
  pause(win: string, reason: string | null = null) { return this.send(this.display(win), 'pause', { win, reason }); }
  resume(win: string) { return this.send(this.display(win), 'resume', { win }); }
  rate(win: string, body: Partial<EventBodies['rating']> & { level: EventBodies['rating']['level'] }, t = this.time) {
    return this.send(this.pad(win), 'rating', {
      win, ticket: null, req: null, reason: body.level <= 2 ? 'slow' : null, offline: false, ...body,
    }, t);
  }

  /** Checkpoints the chain's head (as the hub does on its interval), then verifies the whole ledger. */
  async verifyLedger() {
    await this.ledger.checkpoint();
    return this.ledger.verify();
  }

  /** Everything in the database a refusal must not touch. */
  async stateDump(): Promise<string> {
    const parts: unknown[] = [];
    for (const table of ['queue_windows', 'queue_tickets', 'queue_counters', 'queue_rate_requests', 'queue_ratings', 'queue_staff']) {
      parts.push(await this.db.all(`SELECT * FROM ${table} ORDER BY 1, 2`));
    }
    return JSON.stringify(parts);
  }
}

/** A hall of 3 departments, 6 items, 6 windows and 6 signed-in staff. */
export async function setUpHall(hall: Hall): Promise<void> {
  const q = hall.queue;
  await q.putDepartment({ id: 'gongan', name: '公安' });
  await q.putDepartment({ id: 'shichang', name: '市场监管' });
  await q.putDepartment({ id: 'renshe', name: '人社' });
  await q.putItem({ code: 'hukou', name: '户籍办理', department: 'gongan', prefix: 'A', limitDays: 5 });
  await q.putItem({ code: 'idcard', name: '身份证', department: 'gongan', prefix: 'B', limitDays: 0 });
  await q.putItem({ code: 'license', name: '营业执照', department: 'shichang', prefix: 'C', limitDays: 3 });
  await q.putItem({ code: 'food', name: '食品经营许可', department: 'shichang', prefix: 'D', limitDays: 10 });
  await q.putItem({ code: 'pension', name: '养老保险', department: 'renshe', prefix: 'E', limitDays: 15 });
  await q.putItem({ code: 'jobs', name: '就业登记', department: 'renshe', prefix: 'F', limitDays: 1 });
  await q.putWindow({ id: 'W1', name: '1号窗口', items: ['hukou', 'idcard'] });
  await q.putWindow({ id: 'W2', name: '2号窗口', items: ['hukou'] });
  await q.putWindow({ id: 'W3', name: '3号窗口', items: ['license', 'food'] });
  await q.putWindow({ id: 'W4', name: '4号窗口', items: ['food'] });
  await q.putWindow({ id: 'W5', name: '5号窗口', items: ['pension', 'jobs'] });
  await q.putWindow({ id: 'W6', name: '6号窗口', items: ['jobs', 'idcard'] });
  const staff = [['s1', '张敏', 'gongan'], ['s2', '李强', 'gongan'], ['s3', '王芳', 'shichang'], ['s4', '赵磊', 'shichang'], ['s5', '陈静', 'renshe'], ['s6', '刘洋', 'renshe']];
  for (const [i, [id, name, department]] of staff.entries()) {
    await q.putStaff({ id, name, department });
    await q.signIn(`W${i + 1}`, id);
  }
}

/** Deterministic random numbers (mulberry32, the simulator's), so a failing day can be replayed. */
export { seededRandom as seeded } from '../../../simulator/hardware.js';

export function displayOf(effects: Effect[], win: string): Extract<Effect, { kind: 'display' }>['body'] | undefined {
  const found = effects.find((e) => e.kind === 'display' && e.win === win);
  return found && found.kind === 'display' ? found.body : undefined;
}
export function rateReqOf(effects: Effect[]): Extract<Effect, { kind: 'rateReq' }> | undefined {
  const found = effects.find((e) => e.kind === 'rateReq');
  return found && found.kind === 'rateReq' ? found : undefined;
}
