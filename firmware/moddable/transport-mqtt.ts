/**
 * Transport on Moddable's plain `mqtt` client (modules/network/mqtt/mqtt.js): MQTT 3.1.1, QoS 0
 * only, clean session. Delivery rests on the hub's ack, so QoS 0 is enough; this adapter owns
 * the link: the last will, login, subscriptions, and reconnection with jittered backoff.
 */
import Client from 'mqtt';
import SecureSocket from 'securesocket';
import type { Timers, TimerId, Transport } from '../core/hardware.js';

export interface MqttTransportOptions {
  host: string;
  port: number;
  tls: boolean;
  /** DER CA certificate for a hall's own broker; without it the SDK's built-in CA store is used. */
  caCertificate?: ArrayBuffer | HostBuffer;
  keepAlive?: number; // milliseconds
  connectTimeout?: number; // milliseconds: TCP + CONNACK
  minBackoff?: number; // milliseconds
  maxBackoff?: number; // milliseconds
}

/** Who this device is on the broker: known only once the Device exists, so it is bound later. */
export interface MqttSession {
  clientId: string;
  username: string;
  password: string;
  will: { topic: string; payload: string; retain: boolean };
  subscriptions: string[];
}

export interface MqttTransportHooks {
  onConnected(): void;
  onDisconnected(): void;
  onMessage(topic: string, payload: Uint8Array): void;
}

const DEFAULTS = {
  keepAlive: 60_000, // milliseconds
  connectTimeout: 15_000, // milliseconds
  minBackoff: 1_000, // milliseconds
  maxBackoff: 60_000, // milliseconds
};

export class MqttTransport implements Transport {
  #options: MqttTransportOptions & typeof DEFAULTS;
  #session: MqttSession | undefined;
  #hooks: MqttTransportHooks | undefined;
  readonly #timers: Timers;
  readonly #random: () => number;
  #client: Client | undefined;
  #up = false;
  #linkUp = false;
  #attempt = 0;
  #retry: TimerId | undefined;
  #watchdog: TimerId | undefined;

  constructor(options: MqttTransportOptions, timers: Timers, random: () => number) {
    this.#options = { ...DEFAULTS, ...options };
    this.#timers = timers;
    this.#random = random;
  }

  /** Where to connect from the next attempt on: the address mDNS found for a `.local` broker (core/discovery.ts). */
  setBroker(host: string, port: number): void {
    this.#options = { ...this.#options, host, port };
  }

  /** Must be called before networkUp(). */
  bind(session: MqttSession, hooks: MqttTransportHooks): void {
    this.#session = session;
    this.#hooks = hooks;
  }

  connected(): boolean {
    return this.#up;
  }

  publish(topic: string, payload: string, retain: boolean): boolean {
    if (!this.#up || !this.#client) return false;
    try {
      this.#client.publish(topic, payload, { retain });
      return true;
    } catch (error) {
      // The socket died under us; the outbox keeps the event and the link comes back on its own.
      trace(`mqtt: publish failed: ${String(error)}\n`);
      this.#fail();
      return false;
    }
  }

  /** The network is up (Wi-Fi got an address): connect now. */
  networkUp(): void {
    this.#linkUp = true;
    this.#attempt = 0;
    this.#clearRetry();
    if (!this.#client) this.#connect();
  }

  /** The network went away: drop the client without waiting for its keep-alive to notice. */
  networkDown(): void {
    this.#linkUp = false;
    this.#clearRetry();
    this.#drop();
  }

  stop(): void {
    this.networkDown();
  }

  #connect(): void {
    const o = this.#options;
    const session = this.#session;
    const hooks = this.#hooks;
    if (!session || !hooks) throw new Error('mqtt: bind() the session before the network comes up');
    trace(`mqtt: connecting to ${o.host}:${o.port}${o.tls ? ' (TLS)' : ''}\n`);
    let client: Client;
    try {
      client = new Client({
        host: o.host,
        port: o.port,
        id: session.clientId,
        user: session.username,
        password: session.password,
        will: { topic: session.will.topic, message: session.will.payload, retain: session.will.retain, quality: 0 },
        timeout: o.keepAlive,
        ...(o.tls
          ? {
              Socket: SecureSocket as unknown as new (dictionary: Record<string, unknown>) => object,
              secure: o.caCertificate ? { protocolVersion: 0x303, certificate: o.caCertificate } : { protocolVersion: 0x303 },
            }
          : {}),
      });
    } catch (error) {
      // e.g. a host name that does not resolve synchronously fails here on some ports.
      trace(`mqtt: cannot start: ${String(error)}\n`);
      this.#scheduleRetry();
      return;
    }
    this.#client = client;
    client.onReady = () => {
      if (this.#client !== client) return;
      this.#clearWatchdog();
      try {
        for (const topic of session.subscriptions) client.subscribe(topic);
      } catch (error) {
        trace(`mqtt: subscribe failed: ${String(error)}\n`);
        this.#fail();
        return;
      }
      this.#attempt = 0;
      this.#up = true;
      trace('mqtt: connected\n');
      hooks.onConnected();
    };
    client.onMessage = (topic, payload) => {
      if (this.#client !== client) return;
      hooks.onMessage(topic, new Uint8Array(payload));
    };
    client.onClose = () => {
      if (this.#client !== client) return;
      trace('mqtt: connection closed\n');
      this.#fail();
    };
    // The client has no CONNACK timeout of its own: a broker that accepts TCP and says nothing
    // would hold the device offline forever.
    this.#watchdog = this.#timers.set(() => {
      this.#watchdog = undefined;
      if (this.#client === client && !this.#up) {
        trace('mqtt: no CONNACK in time\n');
        this.#fail();
      }
    }, o.connectTimeout);
  }

  #fail(): void {
    this.#drop();
    if (this.#linkUp) this.#scheduleRetry();
  }

  #drop(): void {
    this.#clearWatchdog();
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      try {
        client.close(true);
      } catch {
        // already closed by the client itself
      }
    }
    if (this.#up) {
      this.#up = false;
      this.#hooks?.onDisconnected();
    }
  }

  #scheduleRetry(): void {
    if (this.#retry !== undefined) return;
    const o = this.#options;
    const ceiling = Math.min(o.maxBackoff, o.minBackoff * 2 ** Math.min(this.#attempt, 16));
    this.#attempt++;
    // Full jitter: a hall's devices that lost the broker together do not return together.
    const delay = Math.max(o.minBackoff, Math.floor(this.#random() * ceiling));
    trace(`mqtt: retry in ${delay} ms\n`);
    this.#retry = this.#timers.set(() => {
      this.#retry = undefined;
      if (this.#linkUp && !this.#client) this.#connect();
    }, delay);
  }

  #clearRetry(): void {
    if (this.#retry !== undefined) this.#timers.clear(this.#retry);
    this.#retry = undefined;
  }

  #clearWatchdog(): void {
    if (this.#watchdog !== undefined) this.#timers.clear(this.#watchdog);
    this.#watchdog = undefined;
  }
}
