/**
 * The notices' tables. Every notice is a row before anything is sent: the row's id is the
 * idempotency key, UNIQUE (ticket, kind) keeps one notice of each kind per ticket, and the
 * delivery state (attempts, next_at) lives here, so a restarted hub carries on where it stopped.
 */

import type { Migration } from '../db/db.js';

export const noticeMigrations: Migration[] = [
  {
    id: 'notices/001-notices',
    sql: () => `
CREATE TABLE notice_consents (
  ticket TEXT PRIMARY KEY,
  contact TEXT NOT NULL,
  kinds TEXT NOT NULL,
  at BIGINT NOT NULL,
  by_user TEXT NOT NULL,
  withdrawn_at BIGINT
);
CREATE INDEX notice_consents_at ON notice_consents (at);
CREATE TABLE notices (
  id TEXT PRIMARY KEY,
  ticket TEXT,
  kind TEXT NOT NULL,
  contact TEXT NOT NULL,
  text TEXT NOT NULL,
  data TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  next_at BIGINT NOT NULL,
  expires_at BIGINT,
  created_at BIGINT NOT NULL,
  sent_at BIGINT,
  last_error TEXT,
  UNIQUE (ticket, kind)
);
CREATE INDEX notices_due ON notices (status, next_at);
CREATE TABLE notice_alerts (
  id TEXT PRIMARY KEY,
  at BIGINT NOT NULL,
  kind TEXT NOT NULL,
  scope TEXT NOT NULL,
  target TEXT NOT NULL,
  figure TEXT NOT NULL,
  text TEXT NOT NULL
);
CREATE INDEX notice_alerts_key ON notice_alerts (kind, scope, target, at);
`,
  },
  // The alerts read an item's last ratings after every rating: without this, a scan of them all.
  { id: 'notices/002-ratings-item', sql: () => 'CREATE INDEX IF NOT EXISTS notice_ratings_item_t ON queue_ratings (item, t)' },
];
