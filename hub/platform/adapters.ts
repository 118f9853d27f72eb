/**
 * The built-in ways to hand records to the platform:
 * - file: one file a day in a folder the platform's collector picks up (JSON lines, or CSV with
 *   the Chinese field names of GB/T 39046 §6.6 as the header). Written and fsynced = 'sent'; a
 *   folder gives no acknowledgement. A hub killed between the write and the outbox update writes
 *   the record again on restart: each line carries the record's id for the collector to dedupe.
 * - http: one POST per record (JSON or form body), with basic-auth or a bearer token.
 *   2xx: acknowledged. 409: the platform has this id already, acknowledged. Another 4xx (but 408
 *   and 429): refused for good, with the platform's reason. 408, 429, 5xx, a network error or no
 *   answer within the timeout: tried again later, the same id, so a platform that stored it and
 *   then hung recognises the resend.
 */

import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { csvHeader, csvLine, type PlatformFields } from './record.js';

export type Outcome =
  | { result: 'acked' | 'sent'; detail: string }
  | { result: 'refused' | 'retry'; detail: string };

export interface Adapter {
  readonly name: string;
  deliver(fields: PlatformFields, signal: AbortSignal): Promise<Outcome>;
}

const DETAIL_CHARS = 200; // characters of a platform's answer kept as the reason

export class FileDrop implements Adapter {
  readonly name = 'file';
  constructor(private readonly options: { dir: string; format: 'jsonl' | 'csv'; hall: string; day: (t: number) => string }) {}

  async deliver(fields: PlatformFields): Promise<Outcome> {
    const { dir, format, hall } = this.options;
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, `sannuo-${hall}-${this.options.day(Date.now()).replace(/-/g, '')}.${format}`);
    const handle = await open(file, 'a');
    try {
      const { size } = await handle.stat();
      // UTF-8 with a BOM, so spreadsheet programs read the Chinese header right.
      const head = format === 'csv' && size === 0 ? '\uFEFF' + csvHeader() : '';
      await handle.write(head + (format === 'csv' ? csvLine(fields) : JSON.stringify(fields) + '\n'));
      await handle.sync();
    } finally {
      await handle.close();
    }
    return { result: 'sent', detail: path.basename(file) };
  }
}

export interface HttpOptions {
  endpoint: string;
  body: 'json' | 'form';
  user: string;
  password: string;
  token: string;
  /** Milliseconds. */
  timeout: number;
}

export class HttpPost implements Adapter {
  readonly name = 'http';
  constructor(private readonly options: HttpOptions) {}

  async deliver(fields: PlatformFields, signal: AbortSignal): Promise<Outcome> {
    const { endpoint, body, user, password, token, timeout } = this.options;
    const headers: Record<string, string> = { 'content-type': body === 'json' ? 'application/json; charset=utf-8' : 'application/x-www-form-urlencoded; charset=utf-8', 'idempotency-key': fields.id };
    if (token) headers.authorization = `Bearer ${token}`;
    else if (user) headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(endpoint, {
        method: 'POST', headers, body: body === 'json' ? JSON.stringify(fields) : new URLSearchParams(fields).toString(),
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeout)]),
      });
      text = (await res.text()).slice(0, DETAIL_CHARS);
    } catch (error) {
      const e = error as Error;
      const why = e.name === 'TimeoutError' ? `no answer within ${timeout} ms` : e.name === 'AbortError' ? 'hub stopping' : `${(e.cause as Error | undefined)?.message ?? e.message}`;
      return { result: 'retry', detail: why };
    }
    const detail = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
    if (res.ok || res.status === 409) return { result: 'acked', detail };
    if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) return { result: 'refused', detail };
    return { result: 'retry', detail };
  }
}
