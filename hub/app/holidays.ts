/**
 * The national working-day calendar (全国年节及纪念日放假办法 and the State Council's yearly
 * 调休 notice), shipped with the chinese-days package (its dist/years/<year>.json, 2004 on), as
 * the default of the hub's WorkingCalendar (hub/app/calendar.ts). A site's calendarFile is laid
 * over it: its holidays and make-up working days win for the dates it names.
 *
 * Why chinese-days: among the npm packages with the 调休 data (chinese-days, chinese-workday) it
 * is the one that ships the data as JSON per year (not only as code), is updated each year from
 * the State Council's notice, and has the lunar calendar we need below. Both stop at 2026 today.
 *
 * A year the package does not cover (the notice for it not out, or the package not updated):
 * the statutory holidays of the 2024 rules (国务院令第798号) are derived — 元旦 1 Jan, 春节 除夕
 * to 初三, 清明, 劳动节 1–2 May, 端午, 中秋, 国庆 1–3 Oct — and one that falls on a weekend is made
 * up on the next working day (article 6: 适逢星期六、星期日，应当在工作日补假). No 调休 swaps: they
 * are decided yearly. Such a year is marked provisional; the hub logs it, and `npm update
 * chinese-days` (or a calendarFile) brings the real one (README, "Holidays").
 */

import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const DAY = 86_400_000; // milliseconds

interface YearFile { holidays: Record<string, string>; workdays: Record<string, string> }

export interface NationalCalendar {
  holidays: string[];
  makeupWorkdays: string[];
  /** Years the shipped data covers (the State Council's notice is in it). */
  covered: number[];
  /** Years derived from the statutory rules alone (no 调休 swaps): update the package or give a file. */
  provisional: number[];
}

function yearsDir(): string {
  return path.join(path.dirname(require.resolve('chinese-days/package.json')), 'dist', 'years');
}

/** The shipped years (chinese-days/dist/years/<year>.json). */
export function shippedYears(): number[] {
  return readdirSync(yearsDir()).map((f) => /^(\d{4})\.json$/.exec(f)?.[1]).filter((y): y is string => !!y).map(Number).sort((a, b) => a - b);
}

function shippedYear(year: number): YearFile {
  return JSON.parse(readFileSync(path.join(yearsDir(), `${year}.json`), 'utf8')) as YearFile;
}

const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const at = (date: string) => Date.parse(`${date}T00:00:00Z`);
const weekend = (date: string) => { const d = new Date(at(date)).getUTCDay(); return d === 0 || d === 6; };

/** The statutory holidays of a year the package does not cover, each weekend one made up on the next free weekday. */
export function statutoryHolidays(year: number): string[] {
  const cd = require('chinese-days') as { getSolarDateFromLunar(lunar: string): { date: string } };
  const lunar = (md: string) => cd.getSolarDateFromLunar(`${year}-${md}`).date;
  const newYear = at(lunar('01-01'));
  const groups: string[][] = [
    [`${year}-01-01`],
    [iso(newYear - DAY), iso(newYear), iso(newYear + DAY), iso(newYear + 2 * DAY)], // 除夕 to 初三
    [qingming(year)],
    [`${year}-05-01`, `${year}-05-02`],
    [lunar('05-05')],
    [lunar('08-15')],
    [`${year}-10-01`, `${year}-10-02`, `${year}-10-03`],
  ];
  const off = new Set(groups.flat());
  for (const group of groups) {
    let next = at(group[group.length - 1]);
    for (const date of group) {
      if (!weekend(date)) continue;
      do next += DAY; while (weekend(iso(next)) || off.has(iso(next)));
      off.add(iso(next));
    }
  }
  return [...off].sort();
}

/** 清明 is the solar term, 4 or 5 April: the package knows it. */
function qingming(year: number): string {
  const cd = require('chinese-days') as { getSolarTerms(start: string, end: string): { date: string; term: string }[] };
  const term = cd.getSolarTerms(`${year}-04-01`, `${year}-04-07`).find((t) => t.term === 'clear_and_bright');
  return term?.date ?? `${year}-04-05`;
}

/** The national calendar for `years` (default: every shipped year and the next two after the last). */
export function nationalCalendar(years?: number[]): NationalCalendar {
  const shipped = shippedYears();
  const last = shipped[shipped.length - 1];
  const wanted = years ?? [...shipped, last + 1, last + 2];
  const out: NationalCalendar = { holidays: [], makeupWorkdays: [], covered: [], provisional: [] };
  for (const year of wanted) {
    if (shipped.includes(year)) {
      const y = shippedYear(year);
      out.holidays.push(...Object.keys(y.holidays));
      out.makeupWorkdays.push(...Object.keys(y.workdays));
      out.covered.push(year);
    } else {
      out.holidays.push(...statutoryHolidays(year));
      out.provisional.push(year);
    }
  }
  return out;
}

/** The national calendar with a site's own dates laid over it: a site's holiday or make-up day wins for its date. */
export function withSiteCalendar(national: Pick<NationalCalendar, 'holidays' | 'makeupWorkdays'>, site: { holidays: string[]; makeupWorkdays: string[] }): { holidays: string[]; makeupWorkdays: string[] } {
  const siteHolidays = new Set(site.holidays);
  const siteMakeup = new Set(site.makeupWorkdays);
  return {
    holidays: [...new Set([...national.holidays.filter((d) => !siteMakeup.has(d)), ...site.holidays])].sort(),
    makeupWorkdays: [...new Set([...national.makeupWorkdays.filter((d) => !siteHolidays.has(d)), ...site.makeupWorkdays])].sort(),
  };
}
