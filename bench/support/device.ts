/**
 * A light bench device: an MQTT.js client with a provisioned identity that signs events with
 * protocol.ts (HMAC from node:crypto), and hands every verified ack item and command to the
 * bench. No outbox, no flash: the bench keeps what is unacked itself.
 */

import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceConfig } from '../../firmware/core/config.js';
import {
  decodeAck, decodeCommand, deriveMqttPassword, deriveSigningKey, encodeEvent, encodeState, isProtocolError, topicFor,
  type AckItem, type AnyDeviceEvent, type AnyHubCommand, type EventBodies, type EventType,
} from '../../firmware/core/protocol.js';
import { fromHex } from '../../firmware/core/utf8.js';
import { nodeHmac } from '../../hub/devices/registry.js';

export class BenchDevice {
  client: MqttClient | undefined;
  readonly key: Uint8Array;
  readonly password: string;
  readonly id: string;
  boot = 1;
  seq = 0;
  badDownlinks = 0;
  onAck: (item: AckItem, at: number) => void = () => undefined;
  onCommand: (command: AnyHubCommand, at: number) => void = () => undefined;

  constructor(readonly config: DeviceConfig) {
    const secret = fromHex(config.secret);
    if (!secret) throw new Error(`device ${config.id}: secret is not hex`);
    this.id = config.id;
    this.key = deriveSigningKey(secret, nodeHmac);
    this.password = deriveMqttPassword(secret, nodeHmac);
  }

  topic(channel: 'evt' | 'state' | 'cmd' | 'ack'): string {
    return topicFor(this.config.site, this.id, channel);
  }

  /** Connects (clean session, like the firmware) and subscribes to its ack and cmd topics. */
  async connect(url: string, options: { reconnectPeriod?: number; connectTimeout?: number } = {}): Promise<void> {
    const client = mqtt.connect(url, {
      username: this.id, password: this.password, clientId: this.id,
      reconnectPeriod: options.reconnectPeriod ?? 1000, connectTimeout: options.connectTimeout ?? 30_000, clean: true,
      keepalive: 60, resubscribe: true,
    });
    this.client = client;
    // TCP_NODELAY on the bench's side, so Nagle's algorithm on the client does not add its
    // delayed-ACK stalls to what is measured (MQTT.js leaves it off).
    client.on('connect', () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
    client.on('message', (topic, payload) => this.message(topic, payload));
    client.on('error', () => undefined); // reconnects by itself; the bench counts what arrives
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => { client.off('connect', onConnect); client.end(true); reject(error); };
      const onConnect = () => { client.off('error', onError); resolve(); };
      client.once('connect', onConnect);
      client.once('error', onError);
    });
    await client.subscribeAsync([this.topic('ack'), this.topic('cmd')], { qos: 1 });
  }

  private message(topic: string, payload: Buffer): void {
    const at = performance.now();
    const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.length);
    if (topic.endsWith('/ack')) {
      const ack = decodeAck(bytes, this.id, this.key, nodeHmac);
      if (isProtocolError(ack)) { this.badDownlinks++; return; }
      for (const item of ack.acks) this.onAck(item, at);
    } else if (topic.endsWith('/cmd')) {
      const command = decodeCommand(bytes, this.id, this.key, nodeHmac);
      if (isProtocolError(command)) { this.badDownlinks++; return; }
      this.onCommand(command, at);
    }
  }

  /** Signs the next event of this device. */
  sign<K extends EventType>(type: K, body: EventBodies[K], t = Date.now()): { seq: number; line: string } {
    const seq = ++this.seq;
    const line = encodeEvent({ v: 1, dev: this.id, boot: this.boot, seq, t, type, body } as AnyDeviceEvent, this.key, nodeHmac);
    if (isProtocolError(line)) throw new Error(`device ${this.id}: ${line.message}`);
    return { seq, line };
  }

  publish(payload: string | Buffer, topic = this.topic('evt')): Promise<unknown> {
    return this.client!.publishAsync(topic, payload, { qos: 1 });
  }

  async publishState(): Promise<void> {
    const state = encodeState({ v: 1, dev: this.id, online: true, role: this.config.role, win: this.config.win, fw: this.config.fw, bat: 90, rssi: -50, heap: 100_000, up: 1, outbox: 0, t: Date.now() });
    await this.client!.publishAsync(this.topic('state'), state, { qos: 1, retain: true });
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true);
  }
}

/** A `state` event body: ledgered by the hub but not touching the queue; ~250 bytes signed. */
export function healthBody(up: number): EventBodies['state'] {
  return { bat: 87, rssi: -58, heap: 81_920, up, outbox: 0, refused: 0, dropped: 0 };
}
