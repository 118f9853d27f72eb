/**
 * A test device: an MQTT.js client that logs in with a provisioned DeviceConfig, signs real
 * events with protocol.ts, keeps every event until the hub's signed ack arrives (like the
 * firmware's outbox) and can resend everything unacked.
 */

import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceConfig } from '../../../firmware/core/config.js';
import {
  decodeAck, decodeCommand, deriveMqttPassword, deriveSigningKey, encodeEvent, encodeState, isProtocolError, topicFor,
  type AckItem, type AnyDeviceEvent, type AnyHubCommand, type EventBodies, type EventType,
} from '../../../firmware/core/protocol.js';
import { fromHex } from '../../../firmware/core/utf8.js';
import { nodeHmac } from '../../../hub/devices/registry.js';

export class TestDevice {
  client: MqttClient | undefined;
  readonly key: Uint8Array;
  readonly password: string;
  boot = 1;
  seq = 0;
  /** seq → signed line, until acked. */
  readonly unacked = new Map<string, string>();
  readonly verdicts = new Map<string, AckItem[]>();
  readonly commands: AnyHubCommand[] = [];
  readonly badDownlinks: string[] = [];
  acksReceived = 0;

  constructor(readonly config: DeviceConfig, readonly site = config.site) {
    const secret = fromHex(config.secret)!;
    this.key = deriveSigningKey(secret, nodeHmac);
    this.password = deriveMqttPassword(secret, nodeHmac);
  }

  topic(channel: 'evt' | 'state' | 'cmd' | 'ack'): string {
    return topicFor(this.site, this.config.id, channel);
  }

  /** `tls`: more MQTT.js options, e.g. the CA to pin for mqtts. */
  async connect(url: string, password = this.password, tls: Pick<mqtt.IClientOptions, 'ca' | 'rejectUnauthorized' | 'servername'> = {}): Promise<void> {
    const client = mqtt.connect(url, {
      ...tls,
      username: this.config.id, password, clientId: this.config.id,
      reconnectPeriod: 300, connectTimeout: 5000, clean: true,
      will: { topic: this.topic('state'), payload: Buffer.from(this.state(false)), qos: 1, retain: true },
    });
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => { client.off('connect', onConnect); client.end(true); reject(error); };
      const onConnect = () => { client.off('error', onError); resolve(); };
      client.once('connect', onConnect);
      client.once('error', onError);
    });
    await client.subscribeAsync([this.topic('ack'), this.topic('cmd')], { qos: 1 });
    // the firmware subscribes again after every reconnect (clean session)
    client.on('connect', () => { void client.subscribeAsync([this.topic('ack'), this.topic('cmd')], { qos: 1 }).catch(() => undefined); });
  }

  state(online: boolean): string {
    return encodeState({ v: 1, dev: this.config.id, online, role: this.config.role, win: this.config.win, fw: this.config.fw, bat: 90, rssi: -50, heap: 100_000, up: 1, outbox: this.unacked.size, t: Date.now() });
  }

  async publishState(online = true): Promise<void> {
    await this.client!.publishAsync(this.topic('state'), this.state(online), { qos: 1, retain: true });
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.topic('ack')) {
      const ack = decodeAck(new Uint8Array(payload), this.config.id, this.key, nodeHmac);
      if (isProtocolError(ack)) { this.badDownlinks.push(ack.message); return; }
      this.acksReceived++;
      for (const item of ack.acks) {
        const k = `${item.boot}:${item.seq}`;
        this.unacked.delete(k);
        const list = this.verdicts.get(k) ?? [];
        list.push(item);
        this.verdicts.set(k, list);
      }
    } else if (topic === this.topic('cmd')) {
      const command = decodeCommand(new Uint8Array(payload), this.config.id, this.key, nodeHmac);
      if (isProtocolError(command)) this.badDownlinks.push(command.message);
      else this.commands.push(command);
    }
  }

  /** Signs the next event; it stays unacked until the hub answers. */
  sign<K extends EventType>(type: K, body: EventBodies[K], t = Date.now()): string {
    const seq = ++this.seq;
    const line = encodeEvent({ v: 1, dev: this.config.id, boot: this.boot, seq, t, type, body } as AnyDeviceEvent, this.key, nodeHmac);
    if (isProtocolError(line)) throw new Error(line.message);
    this.unacked.set(`${this.boot}:${seq}`, line);
    return line;
  }

  async send<K extends EventType>(type: K, body: EventBodies[K]): Promise<string> {
    const line = this.sign(type, body);
    await this.publish(line);
    return line;
  }

  async publish(payload: string | Buffer, topic = this.topic('evt')): Promise<void> {
    await this.client!.publishAsync(topic, payload, { qos: 1 });
  }

  /** Resends every unacked line, in batches of up to 16 (as the uplink does). */
  async resendUnacked(): Promise<number> {
    const lines = [...this.unacked.values()];
    for (let i = 0; i < lines.length; i += 16) await this.publish(lines.slice(i, i + 16).join('\n'));
    return lines.length;
  }

  verdict(seq: number, boot = this.boot): AckItem | undefined {
    const list = this.verdicts.get(`${boot}:${seq}`);
    return list?.[list.length - 1];
  }

  async close(): Promise<void> {
    await this.client?.endAsync(true);
  }
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const bootBody: EventBodies['boot'] = { fw: '0.1.0', reason: 'power-on' };
