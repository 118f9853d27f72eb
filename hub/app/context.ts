/**
 * What the application's features share: the options (from hub/settings.schema.json), and the
 * context their routes are registered with (AppService wires it; each feature's *-routes.ts
 * file registers its own routes with it).
 */

import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry as PromRegistry } from 'prom-client';
import type { Db } from '../db/db.js';
import type { Bus } from '../bus.js';
import type { Settings } from '../settings.js';
import type { Ratings } from '../ratings/ratings.js';
import type { Auth, AuthOptions, UserRole } from './auth.js';
import type { CalendarSpec } from './calendar.js';
import type { Cases, CasePolicy } from './cases.js';
import type { Channels } from './channels.js';
import type { Commitment, Commitments } from './commitments.js';
import { parsePeriod } from '../ratings/figures.js';
import { nationalCalendar, withSiteCalendar } from './holidays.js';

export interface AppOptions {
  /** The hall's name on reports and public pages. */
  hallName: string;
  utcOffsetMinutes: number;
  calendar: Omit<CalendarSpec, 'utcOffsetMinutes'>;
  cases: Partial<CasePolicy>;
  /** 32 bytes for rating-link tokens; derive from the hub key (HMAC(hubKey, "sannuo-rating-token")). */
  tokenKey: Uint8Array;
  phoneRatingDays: number;
  /** Base of the links in QR codes, e.g. http://hall.example:8080 (empty: relative /r/...). */
  publicBaseUrl: string;
  auth: AuthOptions;
  /** Where to register the overdue-case gauge (the hub's prom-client registry). */
  metricsRegistry?: PromRegistry;
  /** Years of the national calendar derived from the statutory rules only (hub/app/holidays.ts): the hub warns of them. */
  calendarProvisional?: number[];
}

export const DEFAULT_APP_OPTIONS: Omit<AppOptions, 'tokenKey'> = {
  hallName: '政务服务大厅',
  utcOffsetMinutes: 480,
  calendar: { holidays: [], makeupWorkdays: [] },
  cases: {},
  phoneRatingDays: 7,
  publicBaseUrl: '',
  auth: {},
};

/** The application's options from the hub's settings (hub/settings.schema.json): hall name, public URL, calendar file, first supervisor, case deadlines. */
export async function appOptionsFromSettings(settings: Pick<Settings, 'hallName' | 'publicUrl' | 'calendarFile' | 'admin' | 'cases'> & { calendarNational?: boolean } & { http?: Pick<Settings['http'], 'secureCookies'> }, base: { tokenKey: Uint8Array; adminPasswordFile: string }): Promise<Partial<AppOptions> & { tokenKey: Uint8Array }> {
  const out: Partial<AppOptions> & { tokenKey: Uint8Array } = {
    tokenKey: base.tokenKey, hallName: settings.hallName, publicBaseUrl: settings.publicUrl.replace(/\/$/, ''), cases: { ...settings.cases },
    auth: { adminPasswordFile: base.adminPasswordFile, admin: { username: settings.admin.user, password: settings.admin.password || undefined }, secureCookies: settings.http?.secureCookies, publicUrl: settings.publicUrl },
  };
  if (settings.calendarFile) {
    let spec: { holidays?: unknown; makeupWorkdays?: unknown };
    try {
      spec = JSON.parse(readFileSync(settings.calendarFile, 'utf8')) as typeof spec;
    } catch (error) {
      throw new Error(`calendarFile ${settings.calendarFile}: ${(error as Error).message}`);
    }
    const days = (key: 'holidays' | 'makeupWorkdays'): string[] => {
      const list = spec[key] ?? [];
      if (!Array.isArray(list) || list.some((d) => typeof d !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(d))) throw new Error(`calendarFile ${settings.calendarFile}: ${key} must be a list of YYYY-MM-DD dates`);
      return list as string[];
    };
    out.calendar = { holidays: days('holidays'), makeupWorkdays: days('makeupWorkdays') };
  }
  // The national 调休 calendar by default; a site's file is laid over it (hub/app/holidays.ts).
  if (settings.calendarNational !== false) {
    const national = nationalCalendar();
    out.calendar = withSiteCalendar(national, out.calendar ?? { holidays: [], makeupWorkdays: [] });
    out.calendarProvisional = national.provisional;
  }
  return out;
}

/** What a feature's routes are given (AppService builds it once). */
export interface AppContext {
  db: Db;
  auth: Auth;
  cases: Cases;
  commitments: Commitments;
  channels: Channels;
  ratings: Ratings;
  options: AppOptions;
  now: () => number;
  log: Logger;
  bus: Bus | undefined;
  /** The phone-rating link of a ticket, for its QR code. */
  ratingLink(ticketId: string): string;
  /** Ratings were committed without a bus: open their cases soon. */
  onRatingsCommitted(): void;
}

export type AppRoutes = (app: FastifyInstance, ctx: AppContext) => void;

/**
 * Route options that sign the request in: 401 without a session, 403 for another role, and the
 * cross-site check. On request, so that it comes before the body is parsed or validated: a
 * stranger learns nothing from a 400 and nothing changes.
 */
export function guard(ctx: Pick<AppContext, 'auth'>, ...roles: UserRole[]): { onRequest: ReturnType<Auth['requireRole']> } {
  return { onRequest: ctx.auth.requireRole(...roles) };
}

/** The period of a query (?period=2025-03, 2025-Q1, 2025), by default the hall's current month. */
export function periodOf(ctx: Pick<AppContext, 'now' | 'options'>, query: unknown, fallback?: string): ReturnType<typeof parsePeriod> {
  const q = (query ?? {}) as Record<string, string | undefined>;
  return parsePeriod(q.period ?? fallback ?? new Date(ctx.now() + ctx.options.utcOffsetMinutes * 60_000).toISOString().slice(0, 7), ctx.options.utcOffsetMinutes);
}

/** Commitments with their measured value. */
export async function withMeasure(commitments: Commitments, list: Commitment[]): Promise<Array<Commitment & { measured: Awaited<ReturnType<Commitments['measure']>> }>> {
  const out = [];
  for (const c of list) out.push({ ...c, measured: await commitments.measure(c) });
  return out;
}

/** Query strings are text: these describe them for validation and OpenAPI. */
export const PERIOD_QUERY = { type: 'string', maxLength: 40, description: 'YYYY-MM, YYYY-Qn, YYYY or YYYY-MM-DD..YYYY-MM-DD (parsePeriod checks it)' } as const;
export const YEAR_QUERY = { type: 'string', pattern: '^\\d{4}$', description: 'YYYY' } as const;
