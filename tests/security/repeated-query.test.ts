/**
 * Finding 14: a repeated query parameter (`?status=a&status=b`) reached handlers as an array and
 * answered 500. Every route, open or behind a role, now answers 400 naming the parameter, with
 * no credential needed to see it and nothing changed.
 */

import { startHub, setUpHall, type HubFixture } from '../../support/hub.js';

let f: HubFixture;
beforeAll(async () => { f = await startHub(); await setUpHall(f.api, 1); });
afterAll(async () => { await f.stop(); });

test('repeated query parameters get a 400 that names them, on open and guarded routes alike', async () => {
  const day = new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);
  const guarded = ['/api/app/cases?status=callback&status=closed', '/api/app/figures?by=win&by=staff', '/api/devices?role=pad&role=display'];
  const open = [`/api/queue/tickets/A001?day=${day}&day=${day}&code=x`, '/api/queue/hall?x=1&x=2', '/api/public/exposures?a=1&a=2'];
  // Without a credential a guarded route answers 400 or 401 (whichever check runs first), never data, never a 500.
  for (const url of guarded) expect([400, 401]).toContain((await f.call('GET', url, undefined, null)).status);
  const cases: [string, string | undefined | null][] = [...guarded.map((u) => [u, undefined] as [string, undefined]), ...open.flatMap((u) => [[u, undefined], [u, null]] as [string, string | undefined | null][])];
  for (const [url, token] of cases) {
    {
      const res = await f.call('GET', url, undefined, token);
      expect({ url, status: res.status }).toEqual({ url, status: 400 });
      const body = await res.json();
      expect(body).toMatchObject({ error: 'bad-request', field: expect.stringMatching(/^query\.\w+$/) });
      expect(body.message).toMatch(/given more than once|repeated|once/);
    }
  }
});
