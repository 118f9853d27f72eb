/**
 * The national calendar shipped with chinese-days, as the hub uses it by default, and the bad-
 * rating deadlines across 2027's 春节. chinese-days 1.5.7 has no 2027 data (the newest is
 * 2026): for 2027 the statutory holidays are derived (hub/app/holidays.ts), marked provisional.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nationalCalendar, shippedYears, statutoryHolidays, withSiteCalendar } from '../../../hub/app/holidays.js';
import { appOptionsFromSettings } from '../../../hub/app/context.js';
import { WorkingCalendar } from '../../../hub/app/calendar.js';
import { loadSettings } from '../../../hub/settings.js';

const cst = (local: string) => Date.parse(`${local}+08:00`);
const day = (at: number) => new Date(at + 8 * 3600_000).toISOString().slice(0, 10);

async function hubCalendar(overrides: Record<string, unknown> = {}) {
  const settings = loadSettings({ env: {}, overrides: { data: os.tmpdir(), ...overrides } });
  const options = await appOptionsFromSettings(settings, { tokenKey: new Uint8Array(32), adminPasswordFile: path.join(os.tmpdir(), 'unused') });
  return { calendar: new WorkingCalendar({ utcOffsetMinutes: 480, ...(options.calendar ?? { holidays: [], makeupWorkdays: [] }) }), provisional: options.calendarProvisional };
}

test('what the package covers: 2004–2026 with the State Council notices; 2027 is not in it', () => {
  const years = shippedYears();
  expect(years[0]).toBe(2004);
  expect(years).toContain(2026);
  expect(years).not.toContain(2027);
  const n = nationalCalendar([2026, 2027]);
  expect(n.covered).toEqual([2026]);
  expect(n.provisional).toEqual([2027]);
  // 2026's 春节 as the notice has it: Feb 15–23 off, Saturdays Feb 14 and 28 worked.
  expect(n.holidays.filter((d) => d.startsWith('2026-02'))).toEqual(['2026-02-15', '2026-02-16', '2026-02-17', '2026-02-18', '2026-02-19', '2026-02-20', '2026-02-21', '2026-02-22', '2026-02-23']);
  expect(n.makeupWorkdays).toEqual(expect.arrayContaining(['2026-02-14', '2026-02-28']));
});

test('2027 statutory holidays: 除夕 Feb 5 to 初三 Feb 8, the weekend days made up on Feb 9 and 10', () => {
  const h = statutoryHolidays(2027);
  expect(h.filter((d) => d.startsWith('2027-02'))).toEqual(['2027-02-05', '2027-02-06', '2027-02-07', '2027-02-08', '2027-02-09', '2027-02-10']);
  expect(h).toEqual(expect.arrayContaining(['2027-01-01', '2027-10-01', '2027-10-02', '2027-10-03', '2027-10-04', '2027-10-05']));
});

test('the hub by default: callback and rectification deadlines across 2027 春节', async () => {
  const { calendar, provisional } = await hubCalendar();
  expect(provisional).toContain(2027);
  // Bad rating Thursday Feb 4 2027: callback (1 working day) skips Feb 5–10 → Thursday Feb 11.
  expect(day(calendar.deadline(cst('2027-02-04T15:00:00'), 1))).toBe('2027-02-11');
  // Rectification (15): Feb 11 12 | 15–19 | 22–26 | Mar 1 2 3 → the 15th is Wednesday Mar 3.
  expect(day(calendar.deadline(cst('2027-02-04T15:00:00'), 15))).toBe('2027-03-03');
  // Without the national calendar (the old behaviour), the holiday would not count.
  const { calendar: bare } = await hubCalendar({ calendarNational: false });
  expect(day(bare.deadline(cst('2027-02-04T15:00:00'), 1))).toBe('2027-02-05');
});

test("a site's file wins for the dates it names: the 2027 notice given by hand", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-cal-'));
  const file = path.join(dir, 'calendar.json');
  // A site's own 2027 春节 (an example, not the real notice): Feb 5–12 off, Sunday Jan 31 and Saturday Feb 20 worked.
  fs.writeFileSync(file, JSON.stringify({ holidays: ['2027-02-11', '2027-02-12'], makeupWorkdays: ['2027-01-31', '2027-02-20'] }));
  try {
    const { calendar } = await hubCalendar({ calendarFile: file });
    expect(calendar.isWorkingDay('2027-01-31')).toBe(true);
    expect(day(calendar.deadline(cst('2027-02-04T15:00:00'), 1))).toBe('2027-02-15');
    // Feb 15–19 (5) | Sat 20, worked (6) | 22–26 (11) | Mar 1 2 3 4 (15) → Thursday Mar 4.
    expect(day(calendar.deadline(cst('2027-02-04T15:00:00'), 15))).toBe('2027-03-04');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  expect(withSiteCalendar({ holidays: ['2027-02-05'], makeupWorkdays: ['2027-02-20'] }, { holidays: ['2027-02-20'], makeupWorkdays: ['2027-02-05'] }))
    .toEqual({ holidays: ['2027-02-20'], makeupWorkdays: ['2027-02-05'] });
});
