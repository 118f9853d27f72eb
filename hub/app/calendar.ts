/**
 * The site's working-day calendar: weekends off, public holidays off, make-up working days
 * (调休, a Saturday or Sunday worked in exchange for a longer holiday) on. Deadlines of the
 * bad-rating workflow count working days on it: "callback within 1 working day" ends at the
 * close of the first working day after the day the rating was made.
 *
 * China keeps one time zone without daylight saving, so a fixed UTC offset is exact here.
 */

const DAY = 86_400_000; // milliseconds

export interface CalendarSpec {
  /** Minutes east of UTC; 480 for China Standard Time. */
  utcOffsetMinutes: number;
  /** Dates off (YYYY-MM-DD), e.g. the National Day holiday. */
  holidays: string[];
  /** Weekend dates that are working days (调休), YYYY-MM-DD. */
  makeupWorkdays: string[];
}

export class CalendarError extends Error {}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function checkDates(list: string[], key: string): Set<string> {
  list.forEach((d, i) => {
    const m = DATE.exec(d);
    const valid = m && new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])).toISOString().slice(0, 10) === d;
    if (!valid) throw new CalendarError(`calendar.${key}[${i}]: "${d}" is not a date YYYY-MM-DD`);
  });
  return new Set(list);
}

export class WorkingCalendar {
  private readonly offset: number;
  private readonly holidays: Set<string>;
  private readonly makeup: Set<string>;

  constructor(spec: CalendarSpec) {
    this.offset = spec.utcOffsetMinutes * 60_000;
    this.holidays = checkDates(spec.holidays, 'holidays');
    this.makeup = checkDates(spec.makeupWorkdays, 'makeupWorkdays');
    for (const d of this.makeup) if (this.holidays.has(d)) throw new CalendarError(`calendar: ${d} is both a holiday and a make-up working day`);
  }

  /** The local date (YYYY-MM-DD) of an instant. */
  localDate(at: number): string {
    return new Date(at + this.offset).toISOString().slice(0, 10);
  }

  isWorkingDay(date: string): boolean {
    if (this.makeup.has(date)) return true;
    if (this.holidays.has(date)) return false;
    const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
    return weekday !== 0 && weekday !== 6;
  }

  /** Start of the local day (ms since the epoch) of a date. */
  private dayStart(date: string): number {
    return Date.parse(`${date}T00:00:00Z`) - this.offset;
  }

  /** The last millisecond of the n-th working day after the day of `from` (n ≥ 1). */
  deadline(from: number, workingDays: number): number {
    if (!Number.isInteger(workingDays) || workingDays < 1) throw new CalendarError(`deadline: working days must be an integer ≥ 1, got ${workingDays}`);
    let date = this.localDate(from);
    let counted = 0;
    for (let guard = 0; guard < 3660; guard++) {
      date = new Date(Date.parse(`${date}T00:00:00Z`) + DAY).toISOString().slice(0, 10);
      if (this.isWorkingDay(date) && ++counted === workingDays) return this.dayStart(date) + DAY - 1;
    }
    throw new CalendarError('deadline: no working day found within ten years; check the calendar');
  }

  /** Working days from `from` to `to` (whole days after the day of `from`, up to and including the day of `to`). */
  workingDaysBetween(from: number, to: number): number {
    let date = this.localDate(from);
    const end = this.localDate(to);
    let count = 0;
    while (date < end) {
      date = new Date(Date.parse(`${date}T00:00:00Z`) + DAY).toISOString().slice(0, 10);
      if (this.isWorkingDay(date)) count++;
    }
    return count;
  }
}
