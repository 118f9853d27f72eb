/**
 * The refused and rejected counters' labels come from a closed set (protocol codes, ingest's
 * seq refusals, the queue's refusal categories, 'other'): refusal reasons naming ids a device
 * chose (staff, windows) must not mint one Prometheus series each.
 */

import { startHub, setUpHall, type HubFixture } from '../../support/hub.js';
import { FakeDevice, waitFor } from '../../support/device.js';
import { METRIC_LABELS, codeLabel, reasonLabel } from '../../hub/ingest/ingest.js';

let f: HubFixture;
let d: FakeDevice | undefined;
afterEach(async () => {
  await d?.close();
  await f?.stop();
});

const letters = (n: number) => Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');

test('labels of free-text reasons are categories, anything unknown is other', () => {
  expect(reasonLabel('call: staff Xabc is not registered in this hall')).toBe('call');
  expect(reasonLabel('transfer: window Xq is not set up in this hall')).toBe('transfer');
  expect(reasonLabel('unknown event type')).toBe('other');
  expect(reasonLabel('Xabcdef: whatever')).toBe('other');
  expect(codeLabel('bad-signature')).toBe('bad-signature');
  expect(codeLabel('made-up-code')).toBe('other');
});

test('many refusals with distinct reasons make a bounded number of refused series', async () => {
  f = await startHub();
  await setUpHall(f.api, 0);
  d = new FakeDevice(await f.provision('display', 'W1', 'disp1'));
  await d.connect(`mqtt://127.0.0.1:${f.hub.mqttPort}`);
  const n = 200;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(d.sign('call', { win: 'W1', staff: 'X' + letters(12) }));
  for (let i = 0; i < lines.length; i += 16) await d.publish(lines.slice(i, i + 16).join('\n'));
  await waitFor('all acked', () => d!.unacked.size === 0);
  const reasons = new Set([...d.verdicts.values()].map((v) => v[0].reason));
  expect(reasons.size).toBeGreaterThan(n / 2);
  const refused = await f.hub.metrics.registry.getSingleMetric('sannuo_refused_total')!.get();
  const series = refused.values.filter((v) => v.value > 0);
  expect(series.length).toBeLessThanOrEqual(METRIC_LABELS.size);
  expect(series.length).toBeLessThan(5);
  for (const s of series) expect(METRIC_LABELS.has(String(s.labels.reason))).toBe(true);
  expect(await f.metric('sannuo_refused_total', { reason: 'call' })).toBe(n);
  const text = await f.hub.metrics.registry.metrics();
  expect(text.split('\n').filter((l) => l.startsWith('sannuo_refused_total{')).length).toBeLessThan(5);
}, 60_000);
