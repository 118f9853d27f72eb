/** Quiet hours (notices.quietHours, "22:00-07:00" in the hall's local time): no notices to citizens. */

const MINUTE = 60_000; // milliseconds
const DAY_MIN = 24 * 60;

/** Start and end, minutes after local midnight; end ≤ start means it runs past midnight. */
export interface QuietHours { start: number; end: number }

export function parseQuietHours(text: string): QuietHours | null {
  const m = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/.exec(text);
  if (!m) return null;
  const start = +m[1] * 60 + +m[2];
  const end = +m[3] * 60 + +m[4];
  return start === end ? null : { start, end };
}

/** If `at` falls in quiet hours, when they end (ms since the epoch); otherwise null. */
export function quietUntil(q: QuietHours, at: number, utcOffsetMinutes: number): number | null {
  const local = at + utcOffsetMinutes * MINUTE;
  const minute = Math.floor(local / MINUTE) % DAY_MIN;
  const inside = q.start < q.end ? minute >= q.start && minute < q.end : minute >= q.start || minute < q.end;
  if (!inside) return null;
  const wait = (q.end - minute + DAY_MIN) % DAY_MIN;
  return (Math.floor(local / MINUTE) + wait) * MINUTE - utcOffsetMinutes * MINUTE;
}
