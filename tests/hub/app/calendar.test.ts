import { CalendarError, WorkingCalendar } from '../../../hub/app/calendar.js';

// 2026 National Day: Oct 1–7 off (Thu–Wed), with Sunday Sep 27 and Saturday Oct 10 worked (调休).
const calendar = new WorkingCalendar({
  utcOffsetMinutes: 480,
  holidays: ['2026-10-01', '2026-10-02', '2026-10-05', '2026-10-06', '2026-10-07'],
  makeupWorkdays: ['2026-09-27', '2026-10-10'],
});
const cst = (local: string) => Date.parse(`${local}+08:00`);
const day = (at: number) => new Date(at + 8 * 3600_000).toISOString().slice(0, 16);

test('weekday: callback within 1 working day ends at the close of the next day', () => {
  expect(day(calendar.deadline(cst('2026-11-24T10:00:00'), 1))).toBe('2026-11-25T23:59');
});

test('a Friday rating: the weekend is skipped', () => {
  expect(day(calendar.deadline(cst('2026-11-27T16:30:00'), 1))).toBe('2026-11-30T23:59');
});

test('late evening in China is still the same local day although UTC has moved on', () => {
  // 23:30 CST on Tuesday is 15:30 UTC Tuesday; 00:30 CST Wednesday is 16:30 UTC Tuesday.
  expect(day(calendar.deadline(cst('2026-11-25T00:30:00'), 1))).toBe('2026-11-26T23:59');
});

test('a make-up working day on a Saturday counts; holidays do not', () => {
  // Rated Wednesday Sep 30: Oct 1–7 are off (incl. the weekend), Oct 8 Thu is day 1.
  expect(day(calendar.deadline(cst('2026-09-30T09:00:00'), 1))).toBe('2026-10-08T23:59');
  // Friday Oct 9 rating: Saturday Oct 10 is a make-up working day.
  expect(day(calendar.deadline(cst('2026-10-09T09:00:00'), 1))).toBe('2026-10-10T23:59');
  // Saturday Sep 26 rating: Sunday Sep 27 is worked.
  expect(day(calendar.deadline(cst('2026-09-26T09:00:00'), 1))).toBe('2026-09-27T23:59');
});

test('rectification within 15 working days across the holiday', () => {
  // From Sep 25 (Fri): Sep 27(Sun, worked) 28 29 30, Oct 8 9 10(Sat, worked) 12 13 14 15 16 19 20 21 → 15th is Oct 21.
  expect(day(calendar.deadline(cst('2026-09-25T11:00:00'), 15))).toBe('2026-10-21T23:59');
  expect(calendar.workingDaysBetween(cst('2026-09-25T11:00:00'), cst('2026-10-21T12:00:00'))).toBe(15);
});

test('bad calendars and arguments name the problem', () => {
  expect(() => new WorkingCalendar({ utcOffsetMinutes: 480, holidays: ['2026-02-30'], makeupWorkdays: [] })).toThrow('calendar.holidays[0]: "2026-02-30" is not a date');
  expect(() => new WorkingCalendar({ utcOffsetMinutes: 480, holidays: ['2026-10-10'], makeupWorkdays: ['2026-10-10'] })).toThrow(CalendarError);
  expect(() => calendar.deadline(0, 0)).toThrow('working days must be an integer ≥ 1');
});
