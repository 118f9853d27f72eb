/**
 * The hub's MQTT client (MQTT.js) for an external broker (Mosquitto, EMQX), for the intake
 * thread, and for a district; a single hall on the embedded Aedes uses the same interface in
 * process (hub/mqtt/local-link.ts). Acks and commands go out at QoS 1; delivery to the device still
 * rests on the device's own resend, not on the broker.
 */

import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';

/**
 * The hub subscribes at QoS 0: exactly-once rests on the devices, which resend until the hub's
 * signed ack arrives, so QoS 1 would buy only a PUBACK per event and the broker's in-flight
 * store; the backpressure (hold) works by not reading the socket.
 *
 * Its session may persist (LinkOptions.persistent): then a broker that keeps sessions across
 * its own restart (Mosquitto's persistence) and queues QoS 0 for a disconnected persistent
 * client (queue_qos0_messages) holds the devices' events while the hub reconnects. Without it,
 * the pads that reconnect first after a broker restart publish to no subscriber, and wait their
 * ack timeout (10 s) to send again.
 */
const SUBSCRIPTION_QOS = 0;

export type MessageHandler = (topic: string, payload: Buffer, retain: boolean) => void;

export interface LinkOptions {
  url: string;
  username: string;
  password: string;
  clientId: string;
  log: Logger;
  /** Seconds between keepalive pings (default 30). */
  keepalive?: number;
  /** Keep the session (clean: false) under a client id stable across restarts (see persistentClientId). */
  persistent?: boolean;
  /** Retained message left if the hub vanishes (e.g. hub status offline). */
  will?: { topic: string; payload: string; retain: boolean };
}

/** What the hub needs of its MQTT connection: HubLink (any broker, over TCP) or LocalLink (the embedded one, in process). */
export interface Link {
  onMessage(handler: MessageHandler): void;
  connect(): Promise<void>;
  subscribe(topics: string[]): Promise<void>;
  unsubscribe(topics: string[]): Promise<void>;
  publish(topic: string, payload: string, options?: { retain?: boolean; qos?: 0 | 1 }): Promise<void>;
  hold(owner: unknown, held: boolean): void;
  isHeld(): boolean;
  connected(): boolean;
  pause(): void;
  close(): Promise<void>;
}

export class HubLink implements Link {
  private client: MqttClient | undefined;
  private handler: MessageHandler | undefined;
  /** Every topic filter held now; subscribed again after each reconnect (clean sessions). */
  private readonly subscriptions = new Set<string>();
  private paused = false;
  /** Who holds the intake (backpressure); while anyone does, received messages are not PUBACKed. */
  private readonly holders = new Set<unknown>();
  private held: (() => void)[] = [];

  constructor(private readonly options: LinkOptions) {}

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  /** Connects and waits for the first CONNACK; reconnects by itself afterwards. */
  async connect(): Promise<void> {
    const { url, username, password, clientId, log, will } = this.options;
    const client = mqtt.connect(url, {
      username, password, clientId,
      clean: !this.options.persistent,
      reconnectPeriod: 1000, // milliseconds
      connectTimeout: 10_000, // milliseconds
      keepalive: this.options.keepalive ?? 30, // seconds
      will: will ? { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: will.retain } : undefined,
      // MQTT.js traces every packet through `debug` (~20 calls each, 1.5 % of the hub's CPU under
      // load even when disabled); the hub logs what matters itself.
      log: () => undefined,
    });
    this.client = client;
    // Backpressure: MQTT.js handles one received packet at a time and sends a message's PUBACK
    // only when handleMessage calls back, so holding that callback stops the client reading its
    // socket; the broker then keeps (or, for QoS 0, drops) what it has instead of the hub
    // taking in more than it can commit. Devices resend whatever stays unacked.
    client.handleMessage = (_packet, callback) => {
      if (this.holders.size) this.held.push(() => callback());
      else callback();
    };
    let livenessAt = 0;
    client.on('message', (topic, payload, packet) => {
      // MQTT.js counts only PINGRESP and acks as signs of life. A connection that only receives
      // (the intake thread's) pings, and under a backlog its PINGRESP queues behind megabytes of
      // publishes and arrives too late: "Keepalive timeout" while data is flowing. Received
      // messages prove the connection alive (checked at most once a second).
      const now = Date.now();
      if (now - livenessAt > 1000) {
        livenessAt = now;
        client.reschedulePing(true);
      }
      if (this.paused || !this.handler) return;
      this.handler(topic, payload, packet.retain);
    });
    client.on('connect', () => {
      // Nagle off: acks and commands are small and latency-bound (see hub/mqtt/broker.ts).
      (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
      coalesceWrites(client.stream as unknown as Corkable);
      log.info({ url: redact(url) }, 'hub connected to MQTT broker');
      // subscribe again on every (re)connect: a clean session forgot them, a kept one does no harm
      if (this.subscriptions.size) client.subscribe([...this.subscriptions], { qos: SUBSCRIPTION_QOS }, (error) => { if (error) log.error({ err: error }, 'subscribe failed'); });
    });
    client.on('reconnect', () => log.warn({ url: redact(url) }, 'hub reconnecting to MQTT broker'));
    client.on('error', (error) => log.error({ err: error.message }, 'MQTT client error'));
    await new Promise<void>((resolve, reject) => {
      const onConnect = () => { cleanup(); resolve(); };
      const onError = (error: Error) => {
        // a refused login will not get better by retrying
        if ((error as { code?: number }).code === 4 || (error as { code?: number }).code === 5) { cleanup(); client.end(true); reject(new Error(`MQTT broker ${redact(url)} refused the hub's login: ${error.message}`)); }
      };
      const cleanup = () => { client.off('connect', onConnect); client.off('error', onError); };
      client.on('connect', onConnect);
      client.on('error', onError);
    });
  }

  async subscribe(topics: string[]): Promise<void> {
    for (const topic of topics) this.subscriptions.add(topic);
    const client = this.requireClient();
    if (!client.connected) return; // the next connect subscribes to every filter held
    await new Promise<void>((resolve, reject) => client.subscribe(topics, { qos: SUBSCRIPTION_QOS }, (error, granted) => {
      if (error) return reject(error);
      const refused = (granted ?? []).filter((g) => g.qos === 128);
      if (refused.length) return reject(new Error(`broker refused the hub's subscription to ${refused.map((g) => g.topic).join(', ')}`));
      resolve();
    }));
  }

  /**
   * Drops topic filters (a hall whose lease this hub gave up or lost). Messages already on the
   * way may still arrive; the hub ignores those of halls it does not hold.
   */
  async unsubscribe(topics: string[]): Promise<void> {
    for (const topic of topics) this.subscriptions.delete(topic);
    const client = this.client;
    if (!client?.connected) return; // the next connect subscribes only to what is left
    await new Promise<void>((resolve, reject) => client.unsubscribe(topics, (error) => (error ? reject(error) : resolve())));
  }

  publish(topic: string, payload: string, options: { retain?: boolean; qos?: 0 | 1 } = {}): Promise<void> {
    const client = this.requireClient();
    return new Promise<void>((resolve, reject) => client.publish(topic, payload, { qos: options.qos ?? 1, retain: options.retain ?? false }, (error) => (error ? reject(error) : resolve())));
  }

  /**
   * Stops (held = true) or resumes taking messages on behalf of `owner`; the link reads again
   * once no owner holds it. The message being handled when the hold starts is still delivered.
   */
  hold(owner: unknown, held: boolean): void {
    if (held) {
      this.holders.add(owner);
      return;
    }
    if (!this.holders.delete(owner) || this.holders.size) return;
    const release = this.held;
    this.held = [];
    for (const callback of release) callback();
  }

  /** Whether anyone holds the intake now. */
  isHeld(): boolean {
    return this.holders.size > 0;
  }

  connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Stop handing messages to the hub (shutdown: stop taking new work). */
  pause(): void {
    this.paused = true;
  }

  async close(): Promise<void> {
    this.holders.clear();
    const release = this.held;
    this.held = [];
    for (const callback of release) callback();
    const client = this.client;
    this.client = undefined;
    if (client) await client.endAsync(false);
  }

  private requireClient(): MqttClient {
    if (!this.client) throw new Error('MQTT link is not connected');
    return this.client;
  }
}

export interface Corkable {
  cork?(): void;
  uncork(): void;
  write(...args: unknown[]): boolean;
}
const COALESCED = Symbol('sannuo.coalescedWrites');

/**
 * MQTT.js writes every packet on its own (mqtt-packet uncorks on the next tick, and MQTT.js
 * handles each received packet in a tick of its own), so under load each PUBACK and each ack
 * costs a syscall. Held corked until the end of the event-loop turn, the packets of one turn go
 * out in one writev; with Nagle off that adds no delay beyond the turn the CPU is busy with.
 */
export function coalesceWrites(stream: Corkable | undefined): void {
  if (!stream || typeof stream.cork !== 'function' || (stream as unknown as Record<symbol, boolean>)[COALESCED]) return;
  (stream as unknown as Record<symbol, boolean>)[COALESCED] = true;
  const write = stream.write;
  let corked = false;
  const flush = () => {
    corked = false;
    stream.uncork();
  };
  stream.write = function (this: Corkable, ...args: unknown[]): boolean {
    if (!corked) {
      corked = true;
      stream.cork!();
      setImmediate(flush);
    }
    return write.apply(this, args);
  };
}

/** A broker URL without its password, for logs. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}
