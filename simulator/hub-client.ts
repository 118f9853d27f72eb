/**
 * The hub's HTTP API as the simulator, the CLI and the tests use it: provisioning, hall set-up
 * (departments, items, windows, staff), issuing tickets like a kiosk, the hall snapshot, device
 * health and ledger verification. An error names the call and carries the hub's own message.
 *
 * Every call but the public ones (health, hall snapshot, tickets) needs a credential: an API
 * token (options.token, else the SANNUO_API_TOKEN environment variable) sent as
 * `Authorization: Bearer <token>`; see the api settings in hub/settings.schema.json.
 */

import type { DeviceConfig } from '../firmware/core/config.js';
import type { Role } from '../firmware/core/protocol.js';

export class HubApiError extends Error {
  constructor(readonly status: number, message: string, readonly field: string | null = null) {
    super(message);
    this.name = 'HubApiError';
  }
}

export interface IssuedTicket { id: string; number: string; item: string; ahead: number; issuedAt: number }

export class HubClient {
  readonly base: string;

  /** The API token sent with every request, if any. */
  readonly token: string | undefined;

  constructor(base: string, private readonly options: { timeoutMs?: number; token?: string } = {}) {
    this.base = base.replace(/\/+$/, '');
    this.token = options.token || process.env.SANNUO_API_TOKEN || undefined;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new HubApiError(0, `${method} ${this.base}${path}: hub not reachable (${cause})`);
    }
    const text = await response.text();
    let data: unknown = undefined;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = text;
    }
    if (!response.ok) {
      const d = (data ?? {}) as { message?: string; error?: string; field?: string };
      const hint = response.status === 401 ? (this.token ? ' (the API token was refused: revoked, expired or for another hub)' : ' (no API token: give --token or set SANNUO_API_TOKEN)') : '';
      throw new HubApiError(response.status, `${method} ${path}: ${response.status} ${d.message ?? d.error ?? text.slice(0, 200)}${hint}`, d.field ?? null);
    }
    return data as T;
  }

  health(): Promise<{ ok: boolean; [key: string]: unknown }> {
    return this.request<{ ok: boolean; [key: string]: unknown }>('GET', '/healthz').catch((error: HubApiError) => {
      if (error.status === 503) return { ok: false };
      throw error;
    });
  }

  /** Waits until /healthz answers ok (the hub is up and linked to its broker). */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        if ((await this.health()).ok) return;
        last = 'not ready';
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > until) throw new HubApiError(0, `hub at ${this.base} not ready after ${timeoutMs} ms: ${last}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  provision(request: { role: Role; win: string; id?: string; fw?: string; replace?: boolean; secret?: string }): Promise<DeviceConfig> {
    return this.request('POST', '/api/devices', request);
  }

  devices(): Promise<{ devices: { id: string; role: Role; win: string; fw: string; health: Record<string, unknown> }[] }> {
    return this.request('GET', '/api/devices');
  }

  putDepartment(id: string, name: string): Promise<unknown> {
    return this.request('PUT', `/api/queue/departments/${encodeURIComponent(id)}`, { name });
  }

  putItem(code: string, item: { name: string; department: string; prefix: string; limitDays: number }): Promise<unknown> {
    return this.request('PUT', `/api/queue/items/${encodeURIComponent(code)}`, item);
  }

  putWindow(id: string, win: { name: string; items: string[] }): Promise<unknown> {
    return this.request('PUT', `/api/queue/windows/${encodeURIComponent(id)}`, win);
  }

  putStaff(id: string, staff: { name: string; department: string }): Promise<unknown> {
    return this.request('PUT', `/api/queue/staff/${encodeURIComponent(id)}`, staff);
  }

  signIn(win: string, staff: string): Promise<unknown> {
    return this.request('POST', `/api/queue/windows/${encodeURIComponent(win)}/sign-in`, { staff });
  }

  /** The citizen reached the counter: service time starts. */
  serving(win: string): Promise<unknown> {
    return this.request('POST', `/api/queue/windows/${encodeURIComponent(win)}/serving`);
  }

  issueTicket(item: string): Promise<IssuedTicket> {
    return this.request('POST', '/api/queue/tickets', { item, priority: 'normal', channel: 'kiosk' });
  }

  hall(): Promise<unknown> {
    return this.request('GET', '/api/queue/hall');
  }

  /** Changes a device's settings through the hub's signed config command. */
  pushConfig(device: string, settings: Record<string, unknown>): Promise<{ device: string; settings: Record<string, unknown>; online: boolean; at: number; note?: string }> {
    return this.request('POST', `/api/devices/${encodeURIComponent(device)}/config`, settings);
  }

  verify(): Promise<{ ok: boolean; rows: number; firstBadRow: number | null; problem: string | null }> {
    return this.request('POST', '/api/ledger/verify');
  }
}
