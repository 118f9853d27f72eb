/**
 * Queue tables, portable SQL (see hub/db/db.ts). Every piece of queue state is here, written in
 * transactions, so a hub killed at any moment restarts with the hall exactly as it was.
 * Booleans are BIGINT 0/1; JSON is TEXT; times are ms since the epoch.
 */

import type { Migration } from '../db/db.js';

const tables = `
CREATE TABLE queue_departments (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE queue_items (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  department TEXT NOT NULL REFERENCES queue_departments (id),
  prefix TEXT NOT NULL,
  limit_days BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE queue_windows (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  paused BIGINT NOT NULL DEFAULT 0,
  pause_reason TEXT,
  current_ticket TEXT,
  staff TEXT,
  updated_at BIGINT NOT NULL
);
CREATE TABLE queue_window_items (
  win TEXT NOT NULL REFERENCES queue_windows (id),
  item TEXT NOT NULL REFERENCES queue_items (code),
  PRIMARY KEY (win, item)
);
CREATE INDEX queue_window_items_item ON queue_window_items (item);
CREATE TABLE queue_staff (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  department TEXT NOT NULL REFERENCES queue_departments (id),
  win TEXT,
  signed_in_at BIGINT,
  updated_at BIGINT NOT NULL
);
CREATE TABLE queue_counters (
  day TEXT NOT NULL,
  name TEXT NOT NULL,
  last BIGINT NOT NULL,
  PRIMARY KEY (day, name)
);
CREATE TABLE queue_tickets (
  id TEXT PRIMARY KEY,
  day TEXT NOT NULL,
  number TEXT NOT NULL,
  item TEXT NOT NULL,
  department TEXT NOT NULL,
  priority TEXT NOT NULL,
  class_rank BIGINT NOT NULL,
  case_no TEXT,
  channel TEXT NOT NULL,
  status TEXT NOT NULL,
  lane BIGINT NOT NULL,
  order_key BIGINT NOT NULL,
  target_win TEXT,
  win TEXT,
  staff TEXT,
  issued_at BIGINT NOT NULL,
  called_at BIGINT,
  served_at BIGINT,
  finished_at BIGINT,
  recall_count BIGINT NOT NULL DEFAULT 0,
  noshow_count BIGINT NOT NULL DEFAULT 0,
  transfer_count BIGINT NOT NULL DEFAULT 0,
  history TEXT NOT NULL,
  UNIQUE (day, number)
);
CREATE INDEX queue_tickets_waiting ON queue_tickets (day, status, item);
CREATE INDEX queue_tickets_finished ON queue_tickets (win, finished_at);
CREATE TABLE queue_rate_requests (
  id TEXT PRIMARY KEY,
  ticket TEXT NOT NULL,
  number TEXT NOT NULL,
  win TEXT NOT NULL,
  staff TEXT,
  item TEXT NOT NULL,
  department TEXT NOT NULL,
  issued_at BIGINT NOT NULL,
  expires BIGINT NOT NULL
);
CREATE INDEX queue_rate_requests_ticket ON queue_rate_requests (ticket);
CREATE TABLE queue_ratings (
  id TEXT PRIMARY KEY,
  ticket TEXT UNIQUE,
  number TEXT,
  level BIGINT NOT NULL,
  reason TEXT,
  channel TEXT NOT NULL,
  win TEXT NOT NULL,
  staff TEXT,
  item TEXT,
  department TEXT,
  wait_ms BIGINT,
  service_ms BIGINT,
  bound TEXT NOT NULL,
  req TEXT,
  dev TEXT NOT NULL,
  boot BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  t BIGINT NOT NULL,
  recorded_at BIGINT NOT NULL,
  UNIQUE (dev, boot, seq)
);
CREATE INDEX queue_ratings_win_t ON queue_ratings (win, t);
CREATE INDEX queue_ratings_staff ON queue_ratings (staff, t)
`;

export const queueMigrations: Migration[] = [
  { id: 'queue/001-tables', sql: () => tables },
  // A transferred ticket is served in parts; served_at restarts at each window, so the earlier
  // parts are summed here and a report's service time is every window's part, not the last one's.
  { id: 'queue/002-earlier-service', sql: () => 'ALTER TABLE queue_tickets ADD COLUMN earlier_service_ms BIGINT NOT NULL DEFAULT 0' },
];
