/**
 * The hall's queue (取号/叫号) and the binding of ratings (一事一评): shared types and the policy
 * a site may set. Everything that matters lives in the database (hub/queue/schema.ts); these
 * are the shapes the service reads and returns.
 */

import type { CommandBodies, RatingLevel, BadRatingReason } from '../../firmware/core/protocol.js';
import { HttpError } from '../http/errors.js';
import type { Db } from '../db/db.js';
import type { TicketRow } from './lookup.js';

/** Priority classes, called in this order: an appointment (预约), then elderly or disabled
 *  citizens (老弱病残孕 green channel), then everyone else. */
export type PriorityClass = 'appointment' | 'elderly-disabled' | 'normal';
export const PRIORITY_CLASSES: readonly PriorityClass[] = ['appointment', 'elderly-disabled', 'normal'];
export const PRIORITY_RANK: Record<PriorityClass, number> = { appointment: 0, 'elderly-disabled': 1, normal: 2 };

/** 'closed': still waiting when its day or its item closed (hub/day records the reason). 'void': issued but never handed over (the kiosk's print failed); it waits nowhere and counts nowhere. */
export type TicketStatus = 'waiting' | 'called' | 'serving' | 'done' | 'no-show' | 'transferred' | 'closed' | 'void';
export const TICKET_STATUSES: readonly TicketStatus[] = ['waiting', 'called', 'serving', 'done', 'no-show', 'transferred', 'closed', 'void'];

/** How a ticket was taken. */
export type IssueChannel = 'kiosk' | 'phone' | 'counter';
export const ISSUE_CHANNELS: readonly IssueChannel[] = ['kiosk', 'phone', 'counter'];

/** How a rating found its service: by the pad's rating request, by window and time (offline or
 *  unsolicited), by a supervisor (a refused pad rating bound later), or not at all ('unbound':
 *  rows kept from before such ratings were refused; they count nowhere). */
export type RatingBinding = 'request' | 'window-time' | 'supervisor' | 'unbound';
/** Where a rating was given. */
/** default: the site's rule that an unrated service counts as 基本满意 (hub/platform/default-rating.ts). */
export type RatingChannel = 'pad' | 'phone' | 'default';

export type { Effect } from '../seams.js';

/** Lanes order the waiting line before priority class: 0 = put in front by a transfer. */
export const LANE_FRONT = 0;
export const LANE_REGULAR = 1;

export interface QueuePolicy {
  /** Times a no-showed ticket goes back to the queue (after those waiting in its class) before it is closed as no-show. */
  noShowReturns: number;
  /** Where a transferred ticket waits: at the front of the target's queue (default, the citizen
   *  has already waited once) or at the back. */
  transferPlacement: 'front' | 'back';
  /** Milliseconds a rating request is offered on the pad (the pad's own rateTimeout should match). */
  rateTimeout: number;
  /** Milliseconds before an offline or unsolicited rating within which the last finished ticket at its window takes it. */
  bindWindow: number;
  /** The hall's offset from UTC in minutes, for the ticket day (numbers restart each local day). China: 480. */
  utcOffsetMinutes: number;
  /** Digits of a ticket number after its prefix (A042); larger numbers simply grow (A1000). */
  numberDigits: number;
}

export const DEFAULT_POLICY: QueuePolicy = {
  noShowReturns: 1,
  transferPlacement: 'front',
  rateTimeout: 30_000, // milliseconds, as the pad's default rateTimeout
  bindWindow: 30 * 60_000, // milliseconds
  utcOffsetMinutes: 480,
  numberDigits: 3,
};

export interface Department { id: string; name: string }
export interface ServiceItem { code: string; name: string; department: string; prefix: string; limitDays: number }
export interface WindowInfo { id: string; name: string; items: string[]; paused: boolean; pauseReason: string | null; staff: string | null; current: string | null }
export interface Staff { id: string; name: string; department: string; win: string | null; signedInAt: number | null }

export interface TicketHistoryEntry {
  at: number;
  what: 'issued' | 'called' | 'recalled' | 'serving' | 'no-show' | 'requeued' | 'transferred' | 'done' | 'closed' | 'void';
  win: string | null;
  staff: string | null;
  /** For transfers: where it went. */
  toWin?: string | null;
  toItem?: string | null;
  fromItem?: string | null;
  /** For a void ticket: why (the printer's fault). */
  reason?: string;
}

export interface Ticket {
  id: string;
  day: string;
  number: string;
  item: string;
  department: string;
  priority: PriorityClass;
  caseNo: string | null;
  channel: IssueChannel;
  status: TicketStatus;
  targetWin: string | null;
  win: string | null;
  staff: string | null;
  issuedAt: number;
  calledAt: number | null;
  servedAt: number | null;
  finishedAt: number | null;
  recallCount: number;
  noShowCount: number;
  transferCount: number;
  history: TicketHistoryEntry[];
  rated: boolean;
}

export interface Rating {
  id: string;
  ticket: string | null;
  number: string | null;
  level: RatingLevel;
  reason: BadRatingReason | null;
  channel: RatingChannel;
  win: string;
  staff: string | null;
  item: string | null;
  department: string | null;
  waitMs: number | null;
  serviceMs: number | null;
  bound: RatingBinding;
  req: string | null;
  dev: string;
  boot: number;
  seq: number;
  t: number;
}

export interface IssuedTicket { id: string; number: string; item: string; priority: PriorityClass; ahead: number; issuedAt: number }

export interface HallSnapshot {
  at: number;
  day: string;
  waiting: number;
  /** Mean milliseconds from issue to first call, over today's called tickets; null before the first call. */
  avgWaitMs: number | null;
  windows: { id: string; name: string; status: string; ticket: string | null; item: string | null; staff: string | null; waiting: number; paused: boolean }[];
  items: { code: string; name: string; department: string; waiting: number; avgWaitMs: number | null }[];
}

/** An error the HTTP layer turns into a status code; `field` names what is wrong. */
/** The queue's refusals: the hub's one HTTP error (hub/http/errors.ts). */
export class QueueError extends HttpError {
  constructor(status: 400 | 404 | 409, message: string, field: string | null = null) {
    super(status, message, field);
  }
}

/** A site's policy, checked at start: each wrong value names its key. */
export function checkPolicy(p: QueuePolicy): QueuePolicy {
  const bad = (key: string, what: string) => { throw new Error(`queue policy: ${key}: ${what}`); };
  if (!Number.isInteger(p.noShowReturns) || p.noShowReturns < 0) bad('noShowReturns', 'expected an integer ≥ 0');
  if (p.transferPlacement !== 'front' && p.transferPlacement !== 'back') bad('transferPlacement', 'expected front or back');
  if (!Number.isInteger(p.rateTimeout) || p.rateTimeout < 1000) bad('rateTimeout', 'expected milliseconds ≥ 1000');
  if (!Number.isInteger(p.bindWindow) || p.bindWindow < 0) bad('bindWindow', 'expected milliseconds ≥ 0');
  if (!Number.isInteger(p.utcOffsetMinutes) || Math.abs(p.utcOffsetMinutes) > 14 * 60) bad('utcOffsetMinutes', 'expected minutes within ±840');
  if (!Number.isInteger(p.numberDigits) || p.numberDigits < 1 || p.numberDigits > 6) bad('numberDigits', 'expected 1–6');
  return p;
}

/**
 * What another feature adds to the queue (hub/day: opening hours, packages, tags). Each runs
 * inside the change's transaction; a check throws a QueueError before anything is written.
 */
export interface QueueHooks {
  /** Before a ticket is written: refuse it (outside opening hours, say) by throwing. */
  beforeIssue?(tx: Db, ticket: { item: string; at: number }): Promise<void>;
  /** After a ticket's row is written, in the same transaction. */
  afterIssue?(tx: Db, issued: IssuedTicket): Promise<void>;
  /** A service at a window ended: the windows whose line changed when the hook moved the
   *  ticket on (a package's next step), or null when the ticket is done (and is rated). */
  onFinish?(tx: Db, ticket: TicketRow, win: string, end: number): Promise<string[] | null>;
  /** What a window's display shows at `at`, given what the queue would show (closed outside hours). */
  display?(db: Db, body: CommandBodies['display'], at: number): Promise<CommandBodies['display']>;
}
