/**
 * The one fake device of the tests and the benchmarks: an MQTT.js client that logs in with a
 * provisioned DeviceConfig, signs real events with firmware/core/protocol.ts and verifies the
 * hub's signed acks and commands. By default it keeps every event until its ack arrives (like
 * the firmware's outbox), every verdict and every command, and can resend what is unacked; a
 * benchmark passes `track: false` and keeps what it needs itself through onAck/onCommand.
 * (The simulator's devices run the real firmware core instead: simulator/sim-device.ts.)
 */

import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceConfig } from '../firmware/core/config.js';
import {
  decodeAck, decodeCommand, deriveMqttPassword, deriveSigningKey, encodeEvent, encodeState, isProtocolError, topicFor,
  type AckItem, type AnyDeviceEvent, type AnyHubCommand, type EventBodies, type EventType,
} from '../firmware/core/protocol.js';
import { fromHex } from '../firmware/core/utf8.js';
import { nodeHmac } from '../hub/devices/registry.js';

export interface FakeDeviceOptions {
  /** The <site> level of its topics (default: the config's). */
  site?: string;
  /** Keep unacked lines, verdicts and commands (default true). */
  track?: boolean;
}

export interface ConnectOptions {
  /** Default: the one derived from the device secret. */
  password?: string;
  reconnectPeriod?: number;
  connectTimeout?: number;
  /** A retained offline state as last will, as the firmware sets (default true). */
  will?: boolean;
  /** For mqtts: the CA to pin, and the like. */
  tls?: Pick<mqtt.IClientOptions, 'ca' | 'rejectUnauthorized' | 'servername'>;
}

export class FakeDevice {
  client: MqttClient | undefined;
  readonly id: string;
  readonly site: string;
  readonly key: Uint8Array;
  readonly password: string;
  boot = 1;
  seq = 0;
  /** `boot:seq` → signed line, until acked (when tracking). */
  readonly unacked = new Map<string, string>();
  readonly verdicts = new Map<string, AckItem[]>();
  readonly commands: AnyHubCommand[] = [];
  /** Acks and commands that did not verify, with why. */
  readonly badDownlinks: string[] = [];
  acksReceived = 0;
  /** Every verified ack item and command, with performance.now() of its arrival. */
  onAck: (item: AckItem, at: number) => void = () => undefined;
  onCommand: (command: AnyHubCommand, at: number) => void = () => undefined;
  private readonly track: boolean;
  private readonly ackTopic: string;
  private readonly cmdTopic: string;

  constructor(readonly config: DeviceConfig, options: FakeDeviceOptions = {}) {
    const secret = fromHex(config.secret);
    if (!secret) throw new Error(`device ${config.id}: secret is not hex`);
    this.id = config.id;
    this.site = options.site ?? config.site;
    this.track = options.track ?? true;
    this.key = deriveSigningKey(secret, nodeHmac);
    this.password = deriveMqttPassword(secret, nodeHmac);
    this.ackTopic = this.topic('ack');
    this.cmdTopic = this.topic('cmd');
  }

  topic(channel: 'evt' | 'state' | 'cmd' | 'ack'): string {
    return topicFor(this.site, this.id, channel);
  }

  /** Connects (clean session, like the firmware) and subscribes to its ack and cmd topics, again after every reconnect. */
  async connect(url: string, options: ConnectOptions = {}): Promise<void> {
    const client = mqtt.connect(url, {
      ...options.tls,
      username: this.id, password: options.password ?? this.password, clientId: this.id,
      reconnectPeriod: options.reconnectPeriod ?? 300, connectTimeout: options.connectTimeout ?? 5000, clean: true,
      // Subscribed again by hand below, as the firmware does; MQTT.js's own would double it.
      resubscribe: false,
      will: options.will === false ? undefined : { topic: this.topic('state'), payload: Buffer.from(this.state(false)), qos: 1, retain: true },
    });
    this.client = client;
    // TCP_NODELAY, so Nagle's algorithm on the client side adds no delayed-ACK stalls to what a
    // benchmark measures (MQTT.js leaves it off).
    client.on('connect', () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('error', () => undefined); // reconnects by itself; the test or bench counts what arrives
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => { client.off('connect', onConnect); client.end(true); reject(error); };
      const onConnect = () => { client.off('error', onError); resolve(); };
      client.once('connect', onConnect);
      client.once('error', onError);
    });
    await client.subscribeAsync([this.ackTopic, this.cmdTopic], { qos: 1 });
    // the firmware subscribes again after every reconnect (clean session)
    client.on('connect', () => { void client.subscribeAsync([this.ackTopic, this.cmdTopic], { qos: 1 }).catch(() => undefined); });
  }

  state(online: boolean): string {
    return encodeState({ v: 1, dev: this.id, online, role: this.config.role, win: this.config.win, fw: this.config.fw, bat: 90, rssi: -50, heap: 100_000, up: 1, outbox: this.unacked.size, t: Date.now() });
  }

  async publishState(online = true): Promise<void> {
    await this.client!.publishAsync(this.topic('state'), this.state(online), { qos: 1, retain: true });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const at = performance.now();
    const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.length);
    if (topic === this.ackTopic) {
      const ack = decodeAck(bytes, this.id, this.key, nodeHmac);
      if (isProtocolError(ack)) { this.badDownlinks.push(ack.message); return; }
      this.acksReceived++;
      for (const item of ack.acks) {
        if (this.track) {
          const k = `${item.boot}:${item.seq}`;
          this.unacked.delete(k);
          const list = this.verdicts.get(k) ?? [];
          list.push(item);
          this.verdicts.set(k, list);
        }
        this.onAck(item, at);
      }
    } else if (topic === this.cmdTopic) {
      const command = decodeCommand(bytes, this.id, this.key, nodeHmac);
      if (isProtocolError(command)) { this.badDownlinks.push(command.message); return; }
      if (this.track) this.commands.push(command);
      this.onCommand(command, at);
    }
  }

  /** Signs the next event (its seq is then `this.seq`); when tracking it stays unacked until the hub answers. */
  sign<K extends EventType>(type: K, body: EventBodies[K], t = Date.now()): string {
    const seq = ++this.seq;
    const line = encodeEvent({ v: 1, dev: this.id, boot: this.boot, seq, t, type, body } as AnyDeviceEvent, this.key, nodeHmac);
    if (isProtocolError(line)) throw new Error(`device ${this.id}: ${line.message}`);
    if (this.track) this.unacked.set(`${this.boot}:${seq}`, line);
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

/** A `state` event body: ledgered by the hub but not touching the queue; ~250 bytes signed. */
export function healthBody(up: number): EventBodies['state'] {
  return { bat: 87, rssi: -58, heap: 81_920, up, outbox: 0, refused: 0, dropped: 0 };
}
