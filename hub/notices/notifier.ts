/**
 * The notifier seam: what a notice is, and the adapters that deliver one. The hub keeps every
 * notice in its own table (hub/notices/store.ts) and calls an adapter's send() once per attempt;
 * an adapter never retries, queues or remembers anything itself, so a restart of the hub loses
 * and doubles nothing whatever the adapter.
 *
 * Built in: LogNotifier (the hub's log; development) and WebhookNotifier (a JSON POST). An SMS
 * gateway or WeChat 订阅消息 (subscribe message) provider plugs in either behind the webhook (a
 * small service that receives the POST and calls the provider: the usual set-up, keeping the
 * provider's credentials off the hall's hub) or as a class implementing Notifier, passed to the
 * Notices feature (README, "Near-turn notices").
 */

import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';

/** Citizens' notices, one of each kind per ticket at most; 'alert' goes to supervisors. */
export const NOTICE_KINDS = ['issued', 'ahead', 'called', 'recalled', 'transferred', 'rating-invite', 'alert'] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

/** One notice as an adapter receives it (and as the webhook's JSON body carries it). */
export interface Notice {
  /** The idempotency key: the same notice always has the same id, whatever the attempt. */
  id: string;
  kind: NoticeKind;
  hall: string;
  /** The ticket's id (null for an alert). */
  ticket: string | null;
  /** Where it goes: the contact the citizen consented with (a phone number, a WeChat openid…), or notices.alertTo. */
  to: string;
  /** The text to show, Chinese first (an SMS body; a WeChat template fills its fields from `data`). */
  text: string;
  /** The fields the text was made from: number, item, win, ahead, link… */
  data: Record<string, string | number | null>;
  /** When the hub made it (ms since the epoch). */
  createdAt: number;
  /** This attempt, from 1. */
  attempt: number;
}

/** What one attempt came to. `retry: false` means trying again cannot help (a 4xx answer). */
export type SendResult = { ok: true } | { ok: false; error: string; retry: boolean };

export interface Notifier {
  readonly name: string;
  /** One attempt; resolves (never rejects) within the adapter's own timeout. */
  send(notice: Notice): Promise<SendResult>;
}

/** Writes each notice to the log: nothing leaves the hub. The contact is not logged. */
export class LogNotifier implements Notifier {
  readonly name = 'log';
  constructor(private readonly log: Logger) {}

  async send(notice: Notice): Promise<SendResult> {
    this.log.info({ notice: notice.id, kind: notice.kind, ticket: notice.ticket, attempt: notice.attempt, text: notice.text }, 'notice');
    return { ok: true };
  }
}

export interface WebhookOptions {
  url: string;
  /** HMAC-SHA256 key for X-Sannuo-Signature; empty: unsigned. */
  secret: string;
  /** Milliseconds an attempt may take (connect, send, answer). */
  timeoutMs: number;
}

/**
 * POSTs the notice as JSON. Headers: Idempotency-Key (the notice's id: a receiver that has seen
 * it answers 2xx and sends nothing again), X-Sannuo-Attempt, and X-Sannuo-Signature
 * `sha256=<hex HMAC of the body>` when a secret is set. Any 2xx is delivered; 408, 429 and 5xx,
 * a refused connection or the timeout are retried; any other answer is final.
 */
export class WebhookNotifier implements Notifier {
  readonly name = 'webhook';
  constructor(private readonly options: WebhookOptions) {
    if (!/^https?:\/\//.test(options.url)) throw new TypeError(`notices.webhookUrl: expected an http(s) URL, got "${options.url}"`);
  }

  async send(notice: Notice): Promise<SendResult> {
    const body = JSON.stringify(notice);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': notice.id, 'x-sannuo-attempt': String(notice.attempt) };
    if (this.options.secret) headers['x-sannuo-signature'] = 'sha256=' + createHmac('sha256', this.options.secret).update(body).digest('hex');
    try {
      const res = await fetch(this.options.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.options.timeoutMs), redirect: 'error' });
      // Read the answer so the connection is released; its text is not kept (it may echo the contact).
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true };
      const retry = res.status === 408 || res.status === 429 || res.status >= 500;
      return { ok: false, error: `http ${res.status}`, retry };
    } catch (error) {
      const e = error as Error;
      const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
      return { ok: false, error: timedOut ? `timeout after ${this.options.timeoutMs} ms` : `unreachable: ${(e.cause as Error | undefined)?.message ?? e.message}`, retry: true };
    }
  }
}
