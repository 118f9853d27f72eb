// Every application route the dashboard calls (hub/app/service.ts, hub/queue/routes.ts,
// hub/http.ts), in one place, so a change there is one edit here.

export const R = {
  me: '/api/auth/me',
  hall: '/api/queue/hall',
  setup: '/api/queue/setup',
  devices: '/api/devices',
  /** { rows: [{ id, ratings, good, bad, levels[5], bound, served, satisfaction, badRate, ratingRate }] } by department (a head gets their own). */
  figures: (period) => `/api/app/figures?period=${encodeURIComponent(period)}&by=department`,
  myRatings: (period) => `/api/app/my/ratings?period=${encodeURIComponent(period)}`,
  cases: (query) => `/api/app/cases?${new URLSearchParams(query)}`,
  caseOne: (id) => `/api/app/cases/${encodeURIComponent(id)}`,
  caseStep: (id, step) => `/api/app/cases/${encodeURIComponent(id)}/${step}`,
  commitments: (query) => `/api/app/commitments?${new URLSearchParams(query)}`,
  /** period: 2025-03 (月通报), 2025-Q1 (季分析), 2025 (年评议) or a date range; format json|csv|pdf. */
  report: (period, format) => `/api/app/reports/${encodeURIComponent(period)}.${format}`,
  publicCommitments: '/api/public/commitments',
  publicExposures: '/api/public/exposures',
  /** The 好差评 platform push's reconciliation report (hub/platform/platform.ts). */
  platformReport: '/api/platform/report',
  platformRetry: '/api/platform/retry',
};

/** Sums the per-department rows of /api/app/figures into the hall's (or the head's department's) figures. */
export function totalFigures(rows) {
  const c = { ratings: 0, good: 0, bad: 0, bound: 0, served: 0, levels: [0, 0, 0, 0, 0] };
  for (const r of rows) {
    c.ratings += r.ratings; c.good += r.good; c.bad += r.bad; c.bound += r.bound; c.served += r.served;
    for (let i = 0; i < 5; i++) c.levels[i] += r.levels[i];
  }
  return { ...c, satisfaction: c.ratings ? c.good / c.ratings : null, badRate: c.ratings ? c.bad / c.ratings : null, ratingRate: c.served ? c.bound / c.served : null };
}

const DAY = 86_400_000; // milliseconds
/** The hall's local date (China: UTC+8, no daylight saving). */
export function localDay(now = Date.now(), offsetMinutes = 480) {
  return new Date(now + offsetMinutes * 60_000).toISOString().slice(0, 10);
}
export function todayPeriod(now = Date.now()) {
  const d = localDay(now);
  return `${d}..${d}`;
}
export function lastDaysPeriod(days, now = Date.now()) {
  return `${localDay(now - (days - 1) * DAY)}..${localDay(now)}`;
}
export function thisMonth(now = Date.now()) {
  return localDay(now).slice(0, 7);
}
