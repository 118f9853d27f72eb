/**
 * Opening hours: the hall's and each item's, on the site's working-day calendar (holidays and
 * 调休 from hub/app/calendar.ts). A scope without hours is open around the clock (a hall that
 * never set any keeps working as before). Tickets are taken from opening to the last-ticket time;
 * the hall serves until closing, when the tickets still waiting are closed (hub/day/feature.ts).
 */

import type { WorkingCalendar } from '../app/calendar.js';

/** 'working': the calendar's working days; 'every': every day, holidays too (a 24 h self-service corner). */
export type OpenDays = 'working' | 'every';
export interface Hours { open: string; close: string; lastTicket: string; days: OpenDays }
export const HALL_SCOPE = '*';

export type ClosedWhy = 'holiday' | 'before-opening' | 'after-last-ticket' | 'after-closing';
export interface OpenState { serving: boolean; ticketing: boolean; why: ClosedWhy | null; hours: Hours | null }

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;
export const HHMM_PATTERN = '^([01]\\d|2[0-3]):([0-5]\\d)$';

export function minutesOf(hhmm: string): number {
  const m = HHMM.exec(hhmm);
  if (!m) throw new Error(`expected HH:MM, got ${hhmm}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** The order a day needs: open < last ticket ≤ close. Answers the wrong field, or null. */
export function checkHours(h: Hours): { field: string; message: string } | null {
  const [o, l, c] = [minutesOf(h.open), minutesOf(h.lastTicket), minutesOf(h.close)];
  if (!(o < c)) return { field: 'body.close', message: `body.close: ${h.close} must be after the opening time ${h.open}` };
  if (!(o < l && l <= c)) return { field: 'body.lastTicket', message: `body.lastTicket: ${h.lastTicket} must be after opening (${h.open}) and not after closing (${h.close})` };
  return null;
}

/** Whether a scope with `hours` serves and issues tickets at `at`. */
export function stateAt(hours: Hours | null, calendar: WorkingCalendar, utcOffsetMinutes: number, at: number): OpenState {
  if (!hours) return { serving: true, ticketing: true, why: null, hours };
  if (hours.days === 'working' && !calendar.isWorkingDay(calendar.localDate(at))) return { serving: false, ticketing: false, why: 'holiday', hours };
  const local = new Date(at + utcOffsetMinutes * 60_000);
  const m = local.getUTCHours() * 60 + local.getUTCMinutes();
  if (m < minutesOf(hours.open)) return { serving: false, ticketing: false, why: 'before-opening', hours };
  if (m >= minutesOf(hours.close)) return { serving: false, ticketing: false, why: 'after-closing', hours };
  if (m >= minutesOf(hours.lastTicket)) return { serving: true, ticketing: false, why: 'after-last-ticket', hours };
  return { serving: true, ticketing: true, why: null, hours };
}

/** Chinese first: what a citizen reads on the kiosk, the display or the refusal. */
export function closedText(s: OpenState, what = '本厅'): string {
  const h = s.hours;
  const span = h ? `开放时间 ${h.open}–${h.close}，${h.lastTicket} 停止取号` : '';
  switch (s.why) {
    case 'holiday': return `${what}今日休息（节假日）${span ? '；' + span : ''} (closed today: holiday)`;
    case 'before-opening': return `${what}尚未开始办理，${span} (not open yet: ${h!.open})`;
    case 'after-last-ticket': return `${what}今日已停止取号，${span} (no more tickets today after ${h!.lastTicket})`;
    case 'after-closing': return `${what}今日已结束办理，${span} (closed for today at ${h!.close})`;
    default: return '';
  }
}
