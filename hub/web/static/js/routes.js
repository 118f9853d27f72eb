// Every application route the dashboard calls, in one place, so a change in hub/app is one edit here.

export const R = {
  me: '/api/auth/me',
  hall: '/api/queue/hall',
  setup: '/api/queue/setup',
  devices: '/api/devices',
  /** Rating figures of a period: { figures: { ratings, levels[5], satisfaction, badRate, ratingRate, … } }. */
  figures: (period, department) => `/api/figures?period=${encodeURIComponent(period)}${department ? `&department=${encodeURIComponent(department)}` : ''}`,
  trend: (period, department) => `/api/figures/trend?period=${encodeURIComponent(period)}&bucket=day${department ? `&department=${encodeURIComponent(department)}` : ''}`,
  ratings: (query) => `/api/ratings?${new URLSearchParams(query)}`,
  cases: (query) => `/api/cases?${new URLSearchParams(query)}`,
  caseOne: (id) => `/api/cases/${encodeURIComponent(id)}`,
  caseStep: (id, step) => `/api/cases/${encodeURIComponent(id)}/${step}`,
  commitments: (query) => `/api/commitments?${new URLSearchParams(query)}`,
  report: (kind, period, format) => `/api/reports/${kind}?period=${encodeURIComponent(period)}${format ? `&format=${format}` : ''}`,
  publicCommitments: '/api/public/commitments',
  publicExposures: '/api/public/exposures',
};

/** Today in the hall's time as "YYYY-MM-DD..YYYY-MM-DD" (China: UTC+8, no daylight saving). */
export function todayPeriod(now = Date.now(), offsetMinutes = 480) {
  const d = new Date(now + offsetMinutes * 60_000).toISOString().slice(0, 10);
  return `${d}..${d}`;
}
export function lastDaysPeriod(days, now = Date.now(), offsetMinutes = 480) {
  const to = new Date(now + offsetMinutes * 60_000).toISOString().slice(0, 10);
  const from = new Date(now + offsetMinutes * 60_000 - (days - 1) * 86_400_000).toISOString().slice(0, 10);
  return `${from}..${to}`;
}
export function thisMonth(now = Date.now(), offsetMinutes = 480) {
  return new Date(now + offsetMinutes * 60_000).toISOString().slice(0, 7);
}
