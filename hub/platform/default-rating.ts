/**
 * The site's rule "no rating within N days counts as 基本满意" (Guangdong: 7 natural days), off
 * unless defaultRating.days is set. Once a day (at defaultRating.hour, hall-local; and at start
 * if that hour has passed) every service finished more than N days ago that nobody rated — nor
 * any other service of its 办件 — gets a rating of level 3 through the ratings feature, on a
 * channel of its own ('default'), so it is in the ledger, the reports and the platform push
 * like any rating and stays apart from the citizens' own.
 *
 * Only services finished after the rule was first switched on are rated: switching it on does
 * not rate a hall's past. A citizen who rates later (phone link still valid) is refused as for any
 * second rating of a ticket; a second 办件 visit rated by the citizen goes as 评价次数 2.
 */

import { num } from '../db/db.js';
import type { FeatureDeps } from '../feature.js';
import type { Ratings } from '../ratings/ratings.js';
import { RatingRefused } from '../ratings/ratings.js';
import { unratedServices } from '../queue/lookup.js';

const DAY = 86_400_000; // milliseconds
const SINCE = 'defaultRating.since';
const LAST_DAY = 'defaultRating.lastDay';
const SEQ = 'defaultRating.seq';
/** The ledger's device column for these ratings: no device gave them. */
export const DEFAULT_DEV = '$default';
export const DEFAULT_LEVEL = 3; // 基本满意
const PAGE = 500; // services rated per transaction

export class DefaultRatings {
  constructor(private readonly deps: FeatureDeps, private readonly options: { ratings: Ratings; rule: { days: number; hour: number }; utcOffsetMinutes: number }) {}

  private localDay(t: number): string {
    return new Date(t + this.options.utcOffsetMinutes * 60_000).toISOString().slice(0, 10);
  }

  private async state(name: string): Promise<number | undefined> {
    const row = await this.deps.db.get<{ value: number }>('SELECT value FROM platform_state WHERE name = $1', [name]);
    return row ? num(row.value) : undefined;
  }

  /** Remembers when the rule was first on (kept across restarts, and across switching it off and on). */
  async startRule(): Promise<void> {
    await this.deps.db.run('INSERT INTO platform_state (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [SINCE, this.deps.now()]);
  }

  /** Runs the rule if today's run is due and not done. Returns the ratings written. */
  async runIfDue(): Promise<number> {
    const now = this.deps.now();
    const hour = new Date(now + this.options.utcOffsetMinutes * 60_000).getUTCHours();
    const today = Number(this.localDay(now).replace(/-/g, ''));
    if (hour < this.options.rule.hour || (await this.state(LAST_DAY)) === today) return 0;
    const written = await this.run();
    await this.deps.db.run('INSERT INTO platform_state (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value', [LAST_DAY, today]);
    return written;
  }

  /** Rates every service due now. */
  async run(): Promise<number> {
    const { db, hall, log, bus } = this.deps;
    const since = await this.state(SINCE);
    if (since === undefined) return 0;
    const now = this.deps.now();
    const period = this.options.rule.days * DAY;
    let written = 0;
    for (;;) {
      const committed: { id: string; win: string }[] = [];
      const more = await db.tx(async (tx) => {
        const due = await unratedServices(tx, since, now - period, PAGE);
        for (const ticket of due) {
          await tx.run('INSERT INTO platform_state (name, value) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING', [SEQ]);
          const seq = num((await tx.get<{ value: number }>('UPDATE platform_state SET value = value + 1 WHERE name = $1 RETURNING value', [SEQ]))!.value);
          try {
            const rating = await this.options.ratings.record(tx, ticket, {
              id: `default:${ticket.id}`, ticketId: ticket.id, level: DEFAULT_LEVEL, reason: null, channel: 'default', bound: 'request', req: null,
              dev: DEFAULT_DEV, boot: 0, seq, t: num(ticket.finished_at) + period,
            });
            committed.push({ id: rating.id, win: rating.win });
          } catch (error) {
            // Rated meanwhile through another channel: nothing to do.
            if (!(error instanceof RatingRefused)) throw error;
          }
        }
        return due.length === PAGE;
      });
      for (const r of committed) bus.emit('ratingCommitted', { rating: r.id, channel: 'default', level: DEFAULT_LEVEL, win: r.win });
      written += committed.length;
      if (!more) break;
    }
    if (written) log.info({ hall, ratings: written, days: this.options.rule.days }, 'default ratings (基本满意) written for services nobody rated');
    return written;
  }
}
