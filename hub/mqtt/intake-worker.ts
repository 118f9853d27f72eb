/**
 * The intake thread (see hub/mqtt/intake.ts): its own MQTT connection subscribed to the hall's evt
 * topic, and the per-event work that needs nothing but a device's signing key — reading the
 * MQTT packet, UTF-8, the signature, the schema and the canonical form. What passes is posted
 * to the main thread as verified lines, a batch per turn of this thread's event loop; anything
 * else (a forged or malformed line, a device this thread has no key for yet) goes to the main
 * thread as the raw message, which decodes it again with the registry and logs, counts, refuses
 * or rejects it as if there were no intake thread.
 */

import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { decodeEventPayload, isProtocolError, parseTopic, TOPIC_ROOT } from '../../firmware/core/protocol.js';
import { fromHex } from '../../firmware/core/utf8.js';
import { HubLink } from './link.js';
import { nodeHmac } from '../devices/registry.js';
import { NODE_TEXT } from '../text.js';
import type { IntakeBatch, IntakeControl, IntakeStart } from './intake.js';

const start = workerData as IntakeStart;
const port = parentPort!;
const keys = new Map<string, Uint8Array>();
const log = pino({ level: start.logLevel, base: { module: 'intake' } });
// A long keepalive: this connection only receives, and while the main thread holds it (a
// backlog) it reads nothing, PINGRESP included; a broker that goes away still closes the socket.
const INTAKE_KEEPALIVE = 300; // seconds
const link = new HubLink({ url: start.url, username: start.username, password: start.password, clientId: start.clientId, persistent: start.persistent, log, keepalive: INTAKE_KEEPALIVE });

let batch: IntakeBatch = { verified: [], raw: [] };
let flushScheduled = false;

function flush(): void {
  flushScheduled = false;
  const out = batch;
  batch = { verified: [], raw: [] };
  port.postMessage(out);
}

function take(topic: string, payload: Buffer): void {
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
  const parsed = parseTopic(topic);
  const key = isProtocolError(parsed) ? undefined : keys.get(parsed.dev);
  if (isProtocolError(parsed) || parsed.channel !== 'evt' || parsed.site !== start.site || !key) {
    batch.raw.push({ topic, payload: new Uint8Array(payload) });
    return;
  }
  const decoded = decodeEventPayload(payload, parsed.dev, () => key, nodeHmac, NODE_TEXT);
  const lines: string[] = [];
  for (const d of decoded) {
    if (d.kind !== 'event') {
      batch.raw.push({ topic, payload: new Uint8Array(payload) });
      return;
    }
    lines.push(d.line);
  }
  batch.verified.push({ dev: parsed.dev, lines });
}

port.on('message', (m: IntakeControl) => {
  if (m.kind === 'keys') {
    for (const [dev, hex] of m.keys) {
      const key = fromHex(hex);
      if (key) keys.set(dev, key);
    }
  } else if (m.kind === 'hold') {
    link.hold(port, m.held);
  } else if (m.kind === 'close') {
    link.pause();
    void link.close().finally(() => {
      if (flushScheduled) flush();
      port.postMessage({ closed: true });
      port.close();
    });
  }
});

link.onMessage((topic, payload) => take(topic, payload));
link.connect()
  .then(() => link.subscribe([`${TOPIC_ROOT}/${start.site}/+/evt`]))
  .then(() => port.postMessage({ ready: true }), (error: unknown) => port.postMessage({ failed: (error as Error)?.message ?? String(error) }));
