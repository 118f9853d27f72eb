/**
 * Tables of the 三诺 application (portable SQL, see hub/db/db.ts). Ratings are the ratings
 * feature's (hub/ratings/) and the ledger's; this schema holds what the application adds: bad-
 * rating cases and their steps, the commitment register (every revision a new row), imported
 * online cases, the suggestion box, the exposure board and the supervisory panel's scores.
 * Every change to these tables also appends a ledger row, so their history is tamper-evident.
 */

import type { Migration } from '../db/db.js';
import { authMigrations } from './auth.js';
import { reportIndexMigration, rollupMigrations } from '../ratings/rollup.js';

const tables = `
CREATE TABLE app_state (
  name TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
CREATE TABLE app_cases (
  id TEXT PRIMARY KEY,
  rating TEXT NOT NULL UNIQUE,
  ticket TEXT,
  number TEXT,
  level BIGINT NOT NULL,
  reason TEXT,
  channel TEXT NOT NULL,
  win TEXT,
  staff TEXT,
  item TEXT,
  department TEXT,
  rated_at BIGINT NOT NULL,
  opened_at BIGINT NOT NULL,
  status TEXT NOT NULL,
  outcome TEXT,
  assignee TEXT,
  due BIGINT,
  callback_due BIGINT NOT NULL,
  rectify_due BIGINT NOT NULL,
  callback_at BIGINT,
  rectified_at BIGINT,
  feedback_at BIGINT,
  closed_at BIGINT,
  appeal TEXT,
  appeal_reason TEXT,
  appeal_at BIGINT,
  appeal_decided_at BIGINT,
  steps BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX app_cases_status ON app_cases (status, due);
CREATE INDEX app_cases_rated ON app_cases (rated_at);
CREATE INDEX app_cases_staff ON app_cases (staff, rated_at);
CREATE TABLE app_case_steps (
  case_id TEXT NOT NULL,
  n BIGINT NOT NULL,
  at BIGINT NOT NULL,
  step TEXT NOT NULL,
  by_user TEXT,
  note TEXT,
  assignee TEXT,
  due BIGINT,
  PRIMARY KEY (case_id, n)
);
CREATE TABLE app_commitments (
  id TEXT NOT NULL,
  version BIGINT NOT NULL,
  department TEXT NOT NULL,
  year BIGINT NOT NULL,
  clause TEXT NOT NULL,
  title TEXT NOT NULL,
  metric TEXT NOT NULL,
  item TEXT,
  target DOUBLE PRECISION,
  measures TEXT NOT NULL,
  owner TEXT NOT NULL,
  deadline TEXT NOT NULL,
  note TEXT,
  created_at BIGINT NOT NULL,
  created_by TEXT,
  PRIMARY KEY (id, version)
);
CREATE INDEX app_commitments_dept ON app_commitments (year, department, clause);
CREATE TABLE app_commitment_heads (
  id TEXT PRIMARY KEY,
  version BIGINT NOT NULL,
  published_version BIGINT,
  published_at BIGINT,
  withdrawn BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE app_online_cases (
  id TEXT PRIMARY KEY,
  item TEXT NOT NULL,
  department TEXT NOT NULL,
  submitted_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL,
  fully_online BIGINT NOT NULL,
  imported_at BIGINT NOT NULL
);
CREATE INDEX app_online_cases_finished ON app_online_cases (department, finished_at);
CREATE TABLE app_suggestions (
  id TEXT PRIMARY KEY,
  at BIGINT NOT NULL,
  category TEXT NOT NULL,
  department TEXT,
  win TEXT,
  text TEXT NOT NULL,
  status TEXT NOT NULL,
  reply TEXT,
  replied_by TEXT,
  replied_at BIGINT
);
CREATE INDEX app_suggestions_at ON app_suggestions (at);
CREATE TABLE app_exposures (
  id TEXT PRIMARY KEY,
  at BIGINT NOT NULL,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  department TEXT,
  win TEXT,
  source TEXT,
  rectification TEXT,
  published_by TEXT NOT NULL,
  withdrawn_at BIGINT
);
CREATE TABLE app_panel_scores (
  member TEXT NOT NULL,
  department TEXT NOT NULL,
  period TEXT NOT NULL,
  dimension TEXT NOT NULL,
  score DOUBLE PRECISION NOT NULL,
  at BIGINT NOT NULL,
  by_user TEXT,
  PRIMARY KEY (member, department, period, dimension)
)`;

export const appMigrations: Migration[] = [
  ...authMigrations,
  { id: 'app/002-tables', sql: () => tables },
  reportIndexMigration,
  ...rollupMigrations,
];
