/**
 * The day's tables (portable SQL, hub/db/db.ts): opening hours, tickets closed at closing,
 * appointment slots and bookings, 一件事一次办 packages and their steps, 通办/帮办 tags.
 * Times are ms since the epoch; JSON is TEXT.
 */

import type { Migration } from '../db/db.js';

const tables = `
CREATE TABLE day_hours (
  scope TEXT PRIMARY KEY,
  open_at TEXT NOT NULL,
  close_at TEXT NOT NULL,
  last_ticket TEXT NOT NULL,
  days TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE day_closed_tickets (
  ticket TEXT PRIMARY KEY,
  day TEXT NOT NULL,
  item TEXT NOT NULL,
  reason TEXT NOT NULL,
  closed_at BIGINT NOT NULL
);
CREATE INDEX day_closed_tickets_day ON day_closed_tickets (day);
CREATE TABLE day_slots (
  id TEXT PRIMARY KEY,
  item TEXT NOT NULL,
  starts_at BIGINT NOT NULL,
  ends_at BIGINT NOT NULL,
  capacity BIGINT NOT NULL,
  closed BIGINT NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL
);
CREATE TABLE day_bookings (
  id TEXT PRIMARY KEY,
  slot TEXT NOT NULL,
  item TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  checked_in_at BIGINT,
  channel TEXT,
  ticket TEXT,
  priority TEXT,
  finished_at BIGINT
);
CREATE INDEX day_bookings_slot ON day_bookings (slot, status);
CREATE TABLE day_packages (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  win TEXT,
  limit_days BIGINT NOT NULL,
  steps TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE day_package_tickets (
  ticket TEXT PRIMARY KEY,
  package TEXT NOT NULL,
  step BIGINT NOT NULL,
  day TEXT NOT NULL
);
CREATE TABLE day_package_steps (
  ticket TEXT NOT NULL,
  step BIGINT NOT NULL,
  item TEXT NOT NULL,
  win TEXT NOT NULL,
  staff TEXT,
  started_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL,
  PRIMARY KEY (ticket, step)
);
CREATE TABLE day_item_tags (
  item TEXT NOT NULL,
  tag TEXT NOT NULL,
  PRIMARY KEY (item, tag)
);
CREATE TABLE day_ticket_tags (
  ticket TEXT NOT NULL,
  tag TEXT NOT NULL,
  PRIMARY KEY (ticket, tag)
)
`;

export const dayMigrations: Migration[] = [{ id: 'day/001-tables', sql: () => tables }];
