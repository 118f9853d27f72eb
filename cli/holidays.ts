/**
 * sannuo holidays [year…]: what the national calendar (hub/app/holidays.ts) holds — the years the
 * shipped chinese-days data covers, the years only derived from the statutory rules
 * (provisional), and a year's holidays and make-up working days. Run after `npm update
 * chinese-days` (README, "Holidays") to see that the new year's notice is in.
 */

import { nationalCalendar, shippedYears } from '../hub/app/holidays.js';
import { CliError } from './common.js';

export function holidaysCommand(years: string[], opts: { json?: boolean }): void {
  const wanted = years.map((y) => {
    if (!/^\d{4}$/.test(y)) throw new CliError(`year: expected YYYY, got "${y}"`, 2);
    return Number(y);
  });
  const shipped = shippedYears();
  const cal = nationalCalendar(wanted.length ? wanted : undefined);
  if (opts.json) {
    process.stdout.write(JSON.stringify({ shipped: [shipped[0], shipped[shipped.length - 1]], ...cal }, null, 2) + '\n');
    return;
  }
  const out: string[] = [`全国节假日数据 (chinese-days): ${shipped[0]}–${shipped[shipped.length - 1]}`];
  if (cal.provisional.length) out.push(`暂按法定假日推算、无调休 (provisional): ${cal.provisional.join(', ')} — npm update chinese-days, or a calendarFile`);
  for (const year of wanted) {
    out.push(`${year}${cal.provisional.includes(year) ? ' (provisional)' : ''}`);
    out.push(`  放假 holidays:  ${cal.holidays.filter((d) => d.startsWith(`${year}-`)).join(' ') || '—'}`);
    out.push(`  调休上班 make-up: ${cal.makeupWorkdays.filter((d) => d.startsWith(`${year}-`)).join(' ') || '—'}`);
  }
  process.stdout.write(out.join('\n') + '\n');
}
