/**
 * The hub's link to its embedded broker, in process: Aedes's own subscribe and publish, no
 * socket and no MQTT client. Over loopback TCP every device event was written out by Aedes as
 * a PUBLISH packet and parsed back by MQTT.js in the same thread, and every ack the other way;
 * here both are a function call (bench/RESULTS.md, ingest: hub CPU per event). An external
 * broker (Mosquitto, EMQX) still goes through HubLink (hub/mqtt/link.ts), the same interface.
 *
 * Delivery mirrors a QoS 0 subscription of a clean session, as HubLink's: what arrives while
 * the hub is not subscribed is gone, and devices resend until acked. Backpressure (hold) pauses
 * the broker's device clients (they stop reading their sockets; TCP and then the devices hold
 * the rest) until the hub lets go. Deliveries themselves are never held: a held delivery keeps
 * one of Aedes's concurrent emits, and with enough of them the hub's own acks queue behind
 * them (a reconnect storm stalled that way).
 */

import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import type { Link, MessageHandler } from './link.js';
import { outsideTransactions } from '../root-context.js';

/** ms a hold must last before the device clients are paused. */
const DEVICE_HOLD_DELAY = 20;

type Deliver = (packet: { topic: string; payload: Buffer | string; retain?: boolean }, callback: () => void) => void;

export class LocalLink implements Link {
  private handler: MessageHandler | undefined;
  private readonly subscriptions = new Map<string, Deliver>();
  private readonly holders = new Set<unknown>();
  private holdTimer: NodeJS.Timeout | undefined;
  private devicesHeld = false;
  private paused = false;
  private closed = false;

  /** holdDevices: stop (true) or resume (false) reading every device's socket. */
  constructor(private readonly aedes: Aedes, private readonly holdDevices: (held: boolean) => void, private readonly log: Logger) {}

  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  async connect(): Promise<void> {
    this.log.info('hub linked to the embedded broker in process');
  }

  async subscribe(topics: string[]): Promise<void> {
    for (const topic of topics) {
      if (this.subscriptions.has(topic)) continue;
      const deliver: Deliver = (packet, callback) => {
        if (!this.paused && this.handler && !this.closed) {
          const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
          // Aedes may deliver inside whoever published (the hub's own code, in a transaction):
          // the message is handled outside it.
          const handler = this.handler;
          outsideTransactions(() => handler(packet.topic, payload, packet.retain ?? false));
        }
        // Never complete a delivery synchronously: Aedes then handles a device's next packets in
        // the same call chain, and a device with a backlog would overflow the stack.
        process.nextTick(callback);
      };
      this.subscriptions.set(topic, deliver);
      await new Promise<void>((resolve, reject) => this.aedes.subscribe(topic, deliver as never, (error?: unknown) => (error ? reject(error) : resolve())));
      await this.replayRetained(topic, deliver);
    }
  }

  /** What a broker sends a new subscriber: the retained messages its filter matches. */
  private replayRetained(topic: string, deliver: Deliver): Promise<void> {
    const persistence = (this.aedes as unknown as { persistence: { createRetainedStream(pattern: string): AsyncIterable<{ topic: string; payload: Buffer; retain?: boolean }> } }).persistence;
    return (async () => {
      for await (const packet of persistence.createRetainedStream(topic)) deliver({ ...packet, retain: true }, () => undefined);
    })();
  }

  async unsubscribe(topics: string[]): Promise<void> {
    for (const topic of topics) {
      const deliver = this.subscriptions.get(topic);
      if (!deliver) continue;
      this.subscriptions.delete(topic);
      await new Promise<void>((resolve) => this.aedes.unsubscribe(topic, deliver as never, () => resolve()));
    }
  }

  publish(topic: string, payload: string, options: { retain?: boolean; qos?: 0 | 1 } = {}): Promise<void> {
    if (this.closed) return Promise.reject(new Error('MQTT link is closed'));
    return new Promise<void>((resolve, reject) => this.aedes.publish(
      { cmd: 'publish', topic, payload: Buffer.from(payload), qos: options.qos ?? 1, retain: options.retain ?? false, dup: false } as never,
      (error?: Error) => (error ? reject(error) : resolve()),
    ));
  }

  /**
   * Pausing thousands of device clients and resuming them is work of its own, and the intake is
   * held and let go many times a second under load; only a hold that lasts pauses the devices.
   * Until then deliveries go on (what arrives meanwhile is bounded by the delay).
   */
  hold(owner: unknown, held: boolean): void {
    if (held) this.holders.add(owner);
    else this.holders.delete(owner);
    if (this.holders.size > 0) {
      this.holdTimer ??= setTimeout(() => {
        this.holdTimer = undefined;
        if (this.holders.size > 0 && !this.devicesHeld) {
          this.devicesHeld = true;
          this.holdDevices(true);
        }
      }, DEVICE_HOLD_DELAY);
      return;
    }
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    if (this.devicesHeld) {
      this.devicesHeld = false;
      this.holdDevices(false);
    }
  }

  isHeld(): boolean {
    return this.holders.size > 0;
  }

  connected(): boolean {
    return !this.closed;
  }

  pause(): void {
    this.paused = true;
  }

  async close(): Promise<void> {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    if (this.devicesHeld) this.holdDevices(false);
    this.devicesHeld = false;
    this.holders.clear();
    await this.unsubscribe([...this.subscriptions.keys()]);
    this.closed = true;
  }
}
