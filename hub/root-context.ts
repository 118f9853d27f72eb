/**
 * The root async context. The SQLite adapter joins a db.tx() begun inside a running
 * transaction's async context to that transaction (hub/db/sqlite.ts), and that context follows
 * every callback, timer and promise created inside it. Work that must never become part of
 * someone else's transaction — a new ingest group, a device message delivered in process —
 * runs here instead.
 */

import { AsyncResource } from 'node:async_hooks';

/** Created when this module loads, outside any transaction. */
const ROOT = new AsyncResource('sannuo.root');

export function outsideTransactions<T>(fn: () => T): T {
  return ROOT.runInAsyncScope(fn);
}
