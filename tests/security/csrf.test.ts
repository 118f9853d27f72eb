/**
 * Finding 5: same-site CSRF. A page on another port of the same host is the same *site*, so the
 * SameSite=Strict session cookie goes with its requests. Before the fix it could publish on the
 * exposure board and advance a bad-rating case with a form post. Now a cookie-authenticated
 * change must name the hub's own origin (Origin, else Referer), and no /api/app or /api/auth
 * route parses an HTML form. A real hub over real HTTP; a real pad's bad rating opens the case.
 */

import { hubPerTest, setUpHall, type HubFixture } from '../../support/hub.js';
import { waitFor } from '../../support/device.js';

jest.setTimeout(60_000);

const PASSWORD = 'hall-pass-2025';
const h = hubPerTest();

/** A raw request as a browser would send it: the session cookie, and Origin/Referer as given. */
async function send(f: HubFixture, method: string, pathname: string, cookie: string, headers: Record<string, string>, body?: string, type = 'application/json'): Promise<{ status: number; json: any }> {
  const res = await fetch(f.http + pathname, { method, headers: { cookie, ...(body === undefined ? {} : { 'content-type': type }), ...headers }, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function setUp(): Promise<{ f: HubFixture; cookie: string; own: string; foreign: string; caseId: string }> {
  const f = await h.start({ 'admin.user': 'admin', 'admin.password': PASSWORD });
  // A department, an item, window W1 with staff s1 signed in, and two tickets (calling the second ends the first one's service).
  await setUpHall(f.api, 2);
  const display = await h.device('display', 'W1', 'disp-W1');
  const pad = await h.device('pad', 'W1', 'pad-W1');
  await display.publishState(true);
  await pad.publishState(true);
  await waitFor('pad online', () => pad.commands.some((c) => c.type === 'time'));
  // Call the ticket, then call again: the service ends and the pad is asked to rate it; it rates 1.
  await display.send('call', { win: 'W1', staff: null });
  await waitFor('first call committed', () => display.unacked.size === 0);
  await display.send('call', { win: 'W1', staff: null });
  await waitFor('rateReq', () => pad.commands.some((c) => c.type === 'rateReq'));
  const req = pad.commands.find((c) => c.type === 'rateReq')!;
  if (req.type !== 'rateReq') throw new Error('unreachable');
  await pad.send('rating', { win: 'W1', ticket: req.body.ticket, req: req.body.req, level: 1, reason: 'attitude', offline: false });
  let caseId = '';
  await waitFor('case opened', async () => {
    caseId = (await f.api('GET', '/api/app/cases')).cases[0]?.id ?? '';
    return caseId !== '';
  });
  const login = await fetch(f.http + '/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
  expect(login.status).toBe(200);
  await login.arrayBuffer();
  const cookie = String(login.headers.get('set-cookie')).split(';')[0];
  const own = f.http; // http://127.0.0.1:<port>
  const foreign = `http://127.0.0.1:9999`; // the same host, another port: the same site
  return { f, cookie, own, foreign, caseId };
}

test('a cookie-session change from another port of the same host is refused 403; from the hub\'s own origin it works', async () => {
  const { f, cookie, own, foreign, caseId } = await setUp();
  const exposure = JSON.stringify({ title: '伪造曝光', body: '来自别的端口的页面' });
  const note = JSON.stringify({ note: '已电话回访', reached: true });

  for (const headers of [{ origin: foreign }, { origin: 'null' }, { referer: `${foreign}/evil.html` }, {}] as Record<string, string>[]) {
    const published = await send(f, 'POST', '/api/app/exposures', cookie, headers, exposure);
    expect(published.status).toBe(403);
    expect(published.json).toMatchObject({ error: 'forbidden', field: 'headers.origin', message: expect.stringMatching(/^cross-site request refused: /) });
    const advanced = await send(f, 'POST', `/api/app/cases/${caseId}/callback`, cookie, headers, note);
    expect(advanced.status).toBe(403);
  }
  expect((await send(f, 'POST', '/api/app/exposures', cookie, { origin: foreign }, exposure)).json.message).toContain(`origin ${foreign} is not this hub (${own}`);
  // Nothing changed: no exposure, the case still waits for its callback.
  expect((await f.api('GET', '/api/public/exposures')).exposures).toEqual([]);
  expect((await f.api('GET', `/api/app/cases/${caseId}`)).case.status).toBe('callback');
  // The other state-changing verbs and hub routes are covered by the same check.
  expect((await send(f, 'PUT', '/api/queue/departments/D9', cookie, { origin: foreign }, JSON.stringify({ name: 'x' }))).status).toBe(403);
  expect((await send(f, 'DELETE', '/api/tokens/startup', cookie, { origin: foreign })).status).toBe(403);

  // From the hub's own pages (Origin, or Referer when there is no Origin) the same requests work.
  const published = await send(f, 'POST', '/api/app/exposures', cookie, { origin: own }, exposure);
  expect(published.status).toBe(201);
  const advanced = await send(f, 'POST', `/api/app/cases/${caseId}/callback`, cookie, { referer: `${own}/app/` }, note);
  expect(advanced.status).toBe(200);
  expect(advanced.json.case.status).toBe('rectify');
  // Reading needs no Origin; a bearer token (not sent by a browser on its own) is not checked.
  expect((await send(f, 'GET', '/api/auth/me', cookie, {})).status).toBe(200);
  expect((await f.call('POST', '/api/app/exposures', { title: '脚本', body: '自动化' })).status).toBe(201);
});

test('the hub\'s publicUrl is its own origin too (behind a proxy that keeps the Host)', async () => {
  const f = await h.start({ 'admin.user': 'admin', 'admin.password': PASSWORD, publicUrl: 'https://hall.example.cn' });
  const login = await fetch(f.http + '/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
  await login.arrayBuffer();
  const cookie = String(login.headers.get('set-cookie')).split(';')[0];
  const body = JSON.stringify({ title: '公示', body: '正文' });
  expect((await send(f, 'POST', '/api/app/exposures', cookie, { origin: 'https://hall.example.cn' }, body)).status).toBe(201);
  expect((await send(f, 'POST', '/api/app/exposures', cookie, { origin: 'http://hall.example.cn' }, body)).status).toBe(403);
});

test('an HTML form is parsed only by the phone rating page: a form post to /api/app or /api/auth is 415', async () => {
  const { f, cookie, own } = await setUp();
  const form = new URLSearchParams({ title: '伪造曝光', body: '表单' }).toString();
  // Even from the hub's own origin: no dashboard route takes a form.
  const refused = await send(f, 'POST', '/api/app/exposures', cookie, { origin: own }, form, 'application/x-www-form-urlencoded');
  expect(refused.status).toBe(415);
  expect(refused.json).toMatchObject({ error: 'bad-request', field: 'headers.content-type', message: expect.stringContaining('HTML forms are taken only by the phone rating page') });
  const login = await send(f, 'POST', '/api/auth/login', '', {}, new URLSearchParams({ username: 'admin', password: PASSWORD }).toString(), 'application/x-www-form-urlencoded');
  expect(login.status).toBe(415);
  expect((await f.api('GET', '/api/public/exposures')).exposures).toEqual([]);
  // The phone page still takes its form (here: an unknown link, answered as a page, not 415).
  const phone = await fetch(`${f.http}/r/not-a-token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'level=5' });
  await phone.arrayBuffer();
  expect(phone.status).not.toBe(415);
  expect(phone.headers.get('content-type')).toMatch(/^text\/html/);
});
