/**
 * The application on a real hall: the queue harness (real SQLite file, real Ledger, events
 * through applyEvent as ingest sends them), plus AppService with its routes on fastify.inject.
 */

import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { migrate } from '../../../hub/db/migrate.js';
import { AppService, type AppOptions } from '../../../hub/app/service.js';
import type { UserRole } from '../../../hub/app/auth.js';
import { Hall, setUpHall, rateReqOf } from '../queue/harness.js';

export class AppHall {
  private constructor(readonly hall: Hall, readonly app: AppService, readonly http: FastifyInstance) {}

  static async open(options: Partial<AppOptions> = {}): Promise<AppHall> {
    const hall = await Hall.open();
    await setUpHall(hall);
    await migrate(hall.db, AppService.migrations);
    const app = new AppService({
      db: hall.db, ledger: hall.ledger, hall: 'hall-1', now: () => hall.time, log: pino({ level: 'silent' }), ratings: hall.queue.ratingsFeature,
      options: { tokenKey: new Uint8Array(32).fill(9), auth: { admin: { username: 'boss', password: 'supervise-me' } }, ...options },
    });
    await app.start();
    const http = Fastify();
    app.routes(http);
    await http.ready();
    return new AppHall(hall, app, http);
  }

  async close(): Promise<void> {
    await this.app.stop();
    await this.http.close();
    await this.hall.close();
  }

  /** Creates a user (as the first supervisor) and returns a Bearer header for them. */
  async as(username: string, role: UserRole, extra: { department?: string; staff?: string } = {}): Promise<Record<string, string>> {
    if (username !== 'boss') {
      await this.app.auth.putUser({ username, name: username, role, department: extra.department ?? null, staff: extra.staff ?? null, password: `${username}-password`, disabled: false }, 'boss');
    }
    const res = await this.http.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password: username === 'boss' ? 'supervise-me' : `${username}-password` } });
    if (res.statusCode !== 200) throw new Error(`login ${username}: ${res.body}`);
    return { authorization: `Bearer ${res.json().token}` };
  }

  /** Issues a ticket, calls it at a window, serves it for serviceMs, and finishes it with the next call. Returns the ticket id and the pad's request. */
  async serve(win: string, item: string, serviceMs = 5 * 60_000, caseNo: string | null = null): Promise<{ id: string; number: string; req: string }> {
    const t = await this.hall.queue.issueTicket({ item, priority: 'normal', caseNo });
    this.hall.advance(60_000);
    const called = await this.hall.call(win);
    if (called.verdict !== 'committed') throw new Error(`call ${win}: ${called.reason}`);
    this.hall.advance(serviceMs);
    const finished = await this.hall.call(win);
    const req = rateReqOf(finished.effects);
    if (!req || req.body.ticket !== t.number) throw new Error(`serve ${win}: ticket ${t.number} was not finished there (another ticket was waiting?)`);
    return { id: t.id, number: t.number, req: req.body.req };
  }
}
