/**
 * Mosquitto restarts under load (issue 19). Pads publish at QoS 0 (as Moddable's mqtt module
 * does) and resend what is unacked when they reconnect and, after that, once their ack timeout
 * passes. When the broker comes back, the pads reconnect before the hub's connections do; what
 * they publish meanwhile has no subscriber, unless the hub's session outlived the restart.
 *
 * The same run is made twice, in one test: as before (clean hub sessions, a broker without
 * persistence) and as now (mqtt.persistentSession, persistence and queue_qos0_messages from
 * hub/mqtt/mosquitto.ts mosquittoBrokerLines). The figure is the resends that had to wait for the
 * ack timeout; both runs lose nothing and double nothing.
 */

import { randomBytes } from 'node:crypto';
import { startMosquitto } from '../../support/mosquitto.js';
import { writeMosquittoFiles, NO_DEVICES } from '../../hub/mqtt/mosquitto.js';
import { startHub } from '../../support/hub.js';
import { FakeDevice, waitFor, bootBody } from '../../support/device.js';

const PADS = 30;
const ACK_TIMEOUT = 3_000; // ms; the firmware's is 10 s, shortened so the test runs in seconds
const SEND_EVERY = 150; // ms per pad

interface Figures { events: number; timeoutResends: number; connectResends: number; ledger: number; doubled: number }

async function run(persistent: boolean): Promise<Figures> {
  const hubUser = { username: '$hub', password: randomBytes(16).toString('hex') };
  const m = await startMosquitto((dir) => { writeMosquittoFiles(NO_DEVICES, { dir, site: 'site1', hub: hubUser }); }, { persistentSession: persistent });
  const f = await startHub({
    broker: `mqtt://${encodeURIComponent(hubUser.username)}:${hubUser.password}@127.0.0.1:${m.port}`,
    'mosquitto.dir': m.filesDir, 'mosquitto.pidFile': m.pidFile, 'mqtt.persistentSession': persistent,
  });
  const pads: FakeDevice[] = [];
  const sentAt = new Map<FakeDevice, Map<string, number>>();
  const figures = { events: 0, timeoutResends: 0, connectResends: 0 };
  let timer: NodeJS.Timeout | undefined;
  try {
    const configs = [];
    for (let i = 0; i < PADS; i++) configs.push(await f.provision('pad', `W${i + 1}`, `pad-${i}`));
    for (const config of configs) {
      const d = new FakeDevice(config);
      await waitFor(`${config.id} logs in after the reload`, async () => { try { await d.connect(m.url, { reconnectPeriod: 100 }); return true; } catch { return false; } });
      pads.push(d);
      sentAt.set(d, new Map());
      // As the firmware's uplink: every unacked event again as soon as the link is back.
      d.client!.on('connect', () => {
        for (const [k, line] of d.unacked) { d.client!.publish(d.topic('evt'), line, { qos: 0 }); sentAt.get(d)!.set(k, Date.now()); figures.connectResends++; }
      });
    }
    const send = (d: FakeDevice) => {
      const line = d.sign('boot', bootBody);
      sentAt.get(d)!.set(`${d.boot}:${d.seq}`, Date.now());
      figures.events++;
      if (d.client!.connected) d.client!.publish(d.topic('evt'), line, { qos: 0 });
    };
    // Load, and the ack timeout: an event unacked for ACK_TIMEOUT is sent again.
    let loading = true;
    timer = setInterval(() => {
      const now = Date.now();
      for (const d of pads) {
        if (loading) send(d);
        for (const [k, line] of d.unacked) {
          const at = sentAt.get(d)!.get(k) ?? now;
          if (now - at >= ACK_TIMEOUT && d.client!.connected) { d.client!.publish(d.topic('evt'), line, { qos: 0 }); sentAt.get(d)!.set(k, now); figures.timeoutResends++; }
        }
      }
    }, SEND_EVERY);
    await new Promise((r) => setTimeout(r, 2_000));
    const before = figures.timeoutResends;
    await m.restart(300);
    await new Promise((r) => setTimeout(r, 3_000));
    loading = false;
    await waitFor('every event acked', () => pads.every((d) => d.unacked.size === 0), 60_000);
    clearInterval(timer);
    timer = undefined;
    expect(before).toBe(0); // nothing timed out before the restart
    const ledger = await f.eventRows();
    const doubled = Number((await f.hub.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM (SELECT dev, boot, seq FROM ledger WHERE kind = 'event' GROUP BY dev, boot, seq HAVING COUNT(*) > 1) x`))!.n);
    return { ...figures, ledger, doubled };
  } finally {
    if (timer) clearInterval(timer);
    for (const d of pads) await d.close().catch(() => undefined);
    await f.stop();
    await m.stop();
  }
}

test('after a Mosquitto restart under load, a persistent hub session leaves the pads nothing to resend on timeout', async () => {
  const before = await run(false);
  const after = await run(true);
  console.info(`broker restart, ${PADS} pads: clean session ${before.timeoutResends} resends after the ${ACK_TIMEOUT} ms ack timeout (${before.events} events);`
    + ` persistent session ${after.timeoutResends} (${after.events} events); resends on reconnect ${before.connectResends} / ${after.connectResends}`);
  for (const r of [before, after]) {
    expect(r.ledger).toBe(r.events); // nothing lost
    expect(r.doubled).toBe(0); // nothing doubled
  }
  expect(before.timeoutResends).toBeGreaterThan(0);
  expect(after.timeoutResends).toBeLessThan(Math.max(1, before.timeoutResends / 5));
}, 180_000);
