/**
 * What a supervisor and a monitoring stack see of a running hub: /livez apart from /readyz,
 * Node's default metrics under their standard names, HTTP request metrics with closed labels;
 * and the log: pretty only on a terminal, JSON (never ANSI) into a file or a pipe.
 */

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startHub, type HubFixture } from '../../../support/hub.js';
import { createLogger } from '../../../hub/log.js';

let hub: HubFixture;
beforeAll(async () => { hub = await startHub(); });
afterAll(async () => { await hub?.stop(); });

test('/livez answers while the process runs; /readyz says whether commits can be taken', async () => {
  const live = await hub.call('GET', '/livez', undefined, null);
  expect(live.status).toBe(200);
  expect(await live.json()).toEqual({ live: true });
  const ready = await hub.call('GET', '/readyz', undefined, null);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({ ready: true, state: 'running' });
});

test('metrics: Node defaults without the sannuo_ prefix; HTTP requests by method, route pattern and status class', async () => {
  await hub.call('GET', '/api/devices/nope-1');
  await hub.call('GET', '/api/devices/nope-2');
  await hub.call('GET', '/no/such/path', undefined, null);
  const text = await (await hub.call('GET', '/metrics', undefined, null)).text();
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
    expect(text).toMatch(new RegExp(`^${name} `, 'm'));
  }
  expect(text).not.toMatch(/^sannuo_(process|nodejs)_/m);
  expect(text).toMatch(/^sannuo_events_in_total /m); // the hub's own keep their prefix
  // One series for both ids: the route pattern, never the URL (a closed label set).
  expect(text).toMatch(/^http_requests_total\{method="GET",route="\/api\/devices\/:id",status="4xx"\} 2$/m);
  expect(text).toMatch(/^http_requests_total\{method="GET",route="unmatched",status="4xx"\} 1$/m);
  expect(text).not.toContain('nope-1');
  expect(text).toMatch(/^http_request_duration_seconds_count\{method="GET",route="\/livez"\} \d+$/m);
});

test('pretty logs only on a terminal: a pipe gets JSON lines without ANSI escapes', () => {
  // A child whose stdout is a pipe, asked for pretty output as settings log.pretty would.
  const script = `import { createLogger } from ${JSON.stringify(path.join(__dirname, '../../../hub/log.ts'))}; createLogger({ pretty: true }).info({ a: 1 }, '你好');`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: path.join(__dirname, '../../..'), encoding: 'utf8' });
  expect(r.status).toBe(0);
  expect(r.stdout).not.toMatch(/\x1b\[/);
  expect(JSON.parse(r.stdout.trim())).toMatchObject({ level: 30, msg: '你好', a: 1 });
  // On a terminal the same options pick pino-pretty (a transport: a worker thread of its own).
  const pretty = createLogger({ pretty: true, tty: true, level: 'silent' });
  expect(pretty.level).toBe('silent');
  expect(createLogger({ pretty: true, tty: false }).bindings()).toMatchObject({ app: 'sannuo-hub' });
  expect(createLogger({ pretty: true, tty: true }).bindings()).not.toMatchObject({ app: 'sannuo-hub' });
});
