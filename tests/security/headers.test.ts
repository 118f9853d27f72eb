/**
 * Issue 18, "Also": the dashboard sends a Content-Security-Policy (script-src 'self', no inline
 * script or style, frame-ancestors 'none': @fastify/helmet), every other answer a policy that
 * forbids framing and foreign script; the session cookie's Secure flag is a setting
 * (http.secureCookies: auto, always, never; auto follows publicUrl and HTTPS, believed from
 * X-Forwarded-Proto only for a proxy in http.trustProxy). Real hubs over real HTTP.
 */

import fs from 'node:fs';
import path from 'node:path';
import { startHub, type HubFixture } from '../../support/hub.js';
import { loadSettings, SettingsError } from '../../hub/settings.js';
import { STATIC_DIR } from '../../hub/web/plugin.js';

jest.setTimeout(60_000);

const PASSWORD = 'hall-pass-2025';
/** Fetches a page to the end (an unread body keeps its connection busy, and the hub's stop waits for it). */
async function get(url: string): Promise<Response> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res;
}
const csp = (res: Response) => Object.fromEntries(String(res.headers.get('content-security-policy')).split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));

describe('Content-Security-Policy and the other helmet headers', () => {
  let f: HubFixture;
  beforeAll(async () => {
    f = await startHub();
  });
  afterAll(async () => f.stop());

  test('the dashboard: script and style from the hub only, never framed', async () => {
    for (const page of ['/app/', '/app/public', '/app/js/app.js', '/app/vendor/chart.umd.min.js']) {
      const res = await get(f.http + page);
      expect(res.status).toBe(200);
      const p = csp(res);
      expect(p['script-src']).toEqual(["'self'"]);
      expect(p['style-src']).toEqual(["'self'"]);
      expect(p['default-src']).toEqual(["'self'"]);
      expect(p['object-src']).toEqual(["'none'"]);
      expect(p['frame-ancestors']).toEqual(["'none'"]);
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      // Not no-referrer: with it a browser sends "Origin: null" on the dashboard's own POSTs.
      expect(res.headers.get('referrer-policy')).toBe('same-origin');
    }
  });

  test('every other answer forbids framing and foreign or inline script; the server-rendered pages keep their inline style', async () => {
    for (const page of ['/public', '/r/not-a-token', '/api/queue/hall', '/healthz', '/api/nowhere']) {
      const p = csp(await get(f.http + page));
      expect(p['script-src']).toEqual(["'self'"]);
      expect(p['frame-ancestors']).toEqual(["'none'"]);
      expect(p['form-action']).toEqual(["'self'"]);
    }
    expect(csp(await get(f.http + '/public'))['style-src']).toEqual(["'self'", "'unsafe-inline'"]);
  });

  test('the dashboard\'s files need no inline script, style or handler, so the strict policy does not break them', () => {
    const html = fs.readdirSync(STATIC_DIR).filter((n) => n.endsWith('.html'));
    expect(html.length).toBeGreaterThan(0);
    for (const name of html) {
      const text = fs.readFileSync(path.join(STATIC_DIR, name), 'utf8');
      expect(text.match(/<script(?![^>]*\bsrc=)[^>]*>/g)).toBeNull();
      expect(text.match(/<style\b/g)).toBeNull();
      expect(text.match(/\sstyle=/g)).toBeNull();
      expect(text.match(/\son[a-z]+=/g)).toBeNull();
    }
  });
});

describe('the Secure flag of the session cookie (http.secureCookies)', () => {
  async function cookieOf(overrides: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
    const f = await startHub({ 'admin.user': 'admin', 'admin.password': PASSWORD, ...overrides });
    try {
      const res = await fetch(f.http + '/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      return String(res.headers.get('set-cookie'));
    } finally {
      await f.stop();
    }
  }
  const secure = (cookie: string) => /;\s*Secure(;|$)/.test(cookie);

  test('auto (default): off over plain HTTP, on with an https publicUrl or HTTPS from a trusted proxy', async () => {
    expect(secure(await cookieOf({}))).toBe(false);
    expect(secure(await cookieOf({ publicUrl: 'https://hall.example.cn' }))).toBe(true);
    expect(secure(await cookieOf({ 'http.trustProxy': '127.0.0.1' }, { 'x-forwarded-proto': 'https' }))).toBe(true);
    // Nobody else can claim HTTPS with a header.
    expect(secure(await cookieOf({}, { 'x-forwarded-proto': 'https' }))).toBe(false);
  });

  test('always and never', async () => {
    expect(secure(await cookieOf({ 'http.secureCookies': 'always' }))).toBe(true);
    expect(secure(await cookieOf({ 'http.secureCookies': 'never', publicUrl: 'https://hall.example.cn' }))).toBe(false);
  });

  test('a wrong value is refused at start with the key', () => {
    expect(() => loadSettings({ env: { SANNUO_HTTP_SECURE_COOKIES: 'sometimes' } })).toThrow(SettingsError);
    expect(() => loadSettings({ env: { SANNUO_HTTP_SECURE_COOKIES: 'sometimes' } })).toThrow(/http\.secureCookies: must be one of "auto", "always", "never" \(from SANNUO_HTTP_SECURE_COOKIES\)/);
  });
});
