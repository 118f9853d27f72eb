/**
 * The sign-in throttle's store (hub/app/auth-routes.ts): failures only, per address and user
 * name, and per address across names. At the fifth failure for a name (or the twentieth for an
 * address, each within 15 min of the one before) that address waits 1 min, and every further
 * attempt doubles the wait, up to 24 h (remembered for a day after the wait).
 */

export const LOGIN_FAILURES = 5; // failed sign-ins from one address for one name before it waits …
export const LOGIN_ADDRESS_FAILURES = 20; // … or from one address across names (password spraying)
export const LOGIN_DELAY = 60_000; // milliseconds: the first wait; each further attempt doubles it …
const LOGIN_DELAY_MAX = 24 * 3600_000; // … up to this; a key that had to wait is remembered this long after its wait
const LOGIN_WINDOW = 15 * 60_000; // failures short of a wait are forgotten this long after the last one

interface Failures { count: number; until: number; forget: number }

/**
 * A store for @fastify/rate-limit that counts sign-in failures on the hub's clock. Unlike the
 * plugin's LocalStore it keeps the doubled wait (LocalStore forgets a key one timeWindow after
 * it exceeded, whatever Retry-After said) and remembers a key across waits, so the wait grows
 * from one lock to the next. `current` is the failure count while the key waits, else at most
 * max, so the plugin's "current > max" means exactly "must wait now".
 */
export function failureStore(now: () => number, holder: { store?: { reset(key: string): void } }) {
  return class FailureStore {
    private readonly keys = new Map<string, Failures>();
    constructor() {
      holder.store = this;
    }
    private live(key: string): Failures | undefined {
      const f = this.keys.get(key);
      if (f && f.forget <= now()) this.keys.delete(key);
      return f && f.forget > now() ? f : undefined;
    }
    incr(key: string, cb: (error: Error | null, result: { current: number; ttl: number }) => void, timeWindow: number, max: number): void {
      const t = now();
      const f = this.live(key) ?? { count: 0, until: 0, forget: 0 };
      f.count++;
      if (f.count > max) f.until = t + Math.min(LOGIN_DELAY_MAX, timeWindow * 2 ** Math.min(40, f.count - max - 1));
      // Short of a wait, failures are forgotten after a quiet quarter hour; after one, for a day, so the next failure waits longer still.
      f.forget = f.until > 0 ? Math.max(f.until, t) + LOGIN_DELAY_MAX : t + LOGIN_WINDOW;
      this.keys.delete(key); // re-insert: the Map's order is then oldest first, for the bound below
      this.keys.set(key, f);
      if (this.keys.size > 100_000) this.keys.delete(this.keys.keys().next().value as string);
      cb(null, this.result(f, max, t));
    }
    read(key: string, cb: (error: Error | null, result: { current: number; ttl: number }) => void, _timeWindow: number, max: number): void {
      const f = this.live(key);
      cb(null, f ? this.result(f, max, now()) : { current: 0, ttl: 0 });
    }
    reset(key: string): void {
      this.keys.delete(key);
    }
    child(): this {
      return this; // one store; the limiters' keys differ by prefix
    }
    private result(f: Failures, max: number, t: number): { current: number; ttl: number } {
      return f.until > t ? { current: f.count, ttl: f.until - t } : { current: Math.min(f.count, max), ttl: 0 };
    }
  };
}

