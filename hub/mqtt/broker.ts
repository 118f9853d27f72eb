/**
 * The embedded broker: Aedes 1.x on a TCP server. Every device logs in as its id with the
 * password derived from its secret; the hub logs in as its own user. ACLs: a device publishes
 * only to its own evt and state topics and subscribes only to its own cmd and ack topics; the
 * hub may do anything. Refusals are counted by reason. With `tls` set it also serves MQTT over
 * TLS on its own port (mqtts, hub/mqtt/broker-tls.ts), with the same limits, checks and ACLs.
 * A device removed or re-keyed loses the connection it has, not only its next login.
 */

import fs from 'node:fs';
import net from 'node:net';
import type tls from 'node:tls';
import v8 from 'node:v8';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import { topicFor } from '../../firmware/core/protocol.js';
import { intakeUsername, type Registry, type HubIdentity } from '../devices/registry.js';
import type { Metrics } from '../metrics.js';
import { coalesceWrites, type Corkable } from './link.js';
import { indexedRetainedPersistence } from './retained-index.js';
import type { Bus } from '../bus.js';
import { createTlsListener, loadBrokerTls, type BrokerTls } from './broker-tls.js';

export { loadBrokerTls, type BrokerTls } from './broker-tls.js';

export interface BrokerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  site: string;
  hub: HubIdentity;
  registry: Registry;
  metrics: Metrics;
  log: Logger;
  /** Largest packet (declared remaining length) accepted; larger closes the socket. */
  maxPacketBytes?: number;
  /** Concurrent connections per remote address, loopback exempt; 0: no limit. */
  maxConnectionsPerAddress?: number;
  /** Tests only: count loopback connections against the limit too. */
  limitLoopback?: boolean;
  /** MQTT over TLS on a second port; off when cert and key are empty. */
  tls?: BrokerTls;
  /** The hall's bus: on deviceChanged, a device's connection whose login no longer holds (removed, re-keyed) is closed. */
  bus?: Bus;
}

/** Default packet cap: the largest evt message (32 events of at most 1 KiB, 16 KiB in all) plus margin. */
export const MAX_PACKET_BYTES = 64 * 1024;
export const MAX_CONNECTIONS_PER_ADDRESS = 64;

/**
 * Follows MQTT packet boundaries in a socket's bytes by their fixed headers alone (type byte,
 * remaining-length varint) and says when one declares more than `max`, before the parser has
 * buffered any of its body. Per chunk it only steps from header to header.
 */
export class PacketSizeGuard {
  private skip = 0; // body bytes of the current packet still to come
  private phase = 0; // 0: next byte starts a packet; n > 0: in the varint, n - 1 bytes of it read
  private length = 0;
  private mult = 1;
  constructor(readonly max: number) {}

  /** false once a packet declares more than max (or a malformed length). */
  feed(buf: Uint8Array): boolean {
    const n = buf.length;
    let i = 0;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        this.skip -= take;
        i += take;
        continue;
      }
      const b = buf[i++];
      if (this.phase === 0) {
        this.phase = 1;
        this.length = 0;
        this.mult = 1;
        continue;
      }
      this.length += (b & 0x7f) * this.mult;
      if (this.length > this.max) return false;
      if (b & 0x80) {
        if (++this.phase > 4) return false; // a varint is at most 4 bytes
        this.mult *= 128;
        continue;
      }
      this.phase = 0;
      this.skip = this.length;
    }
    return true;
  }
}

function isLoopback(address: string | undefined): boolean {
  return !!address && (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'));
}

/** A device's identity keeps the password it logged in with, to tell when that login stops holding. */
type Identity = { kind: 'hub' } | { kind: 'device'; id: string; password: Buffer };
const identities = new WeakMap<Client, Identity>();
/** Aedes's Client has pause()/resume() (stop/continue reading its socket); its types omit them. */
type Pausable = Client & { pause(): void; resume(): void };

/** Bytes waiting to be written to the hub's connection above which devices are not read. */
const HUB_BACKLOG = 1024 * 1024;

// MQTT 3.1.1 §3.2.2.3 CONNACK return codes
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;
const IDENTIFIER_REJECTED = 2;

function authError(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export class EmbeddedBroker {
  private aedes: Aedes | undefined;
  private server: net.Server | undefined;
  private tlsServer: tls.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  /** The TLS listener's port, 0 when there is none. */
  tlsPort = 0;

  constructor(private readonly options: BrokerOptions) {}

  /** Whether `client` may publish to `topic`. Exposed for tests of the ACL alone. */
  mayPublish(identity: Identity | undefined, topic: string): boolean {
    if (!identity) return false;
    if (identity.kind === 'hub') return true;
    return topic === topicFor(this.options.site, identity.id, 'evt') || topic === topicFor(this.options.site, identity.id, 'state');
  }

  maySubscribe(identity: Identity | undefined, topic: string): boolean {
    if (!identity) return false;
    if (identity.kind === 'hub') return true;
    return topic === topicFor(this.options.site, identity.id, 'cmd') || topic === topicFor(this.options.site, identity.id, 'ack');
  }

  async start(): Promise<number> {
    const { registry, metrics, log, hub } = this.options;
    // Before anything listens: a TLS setting that cannot work stops the start, naming the setting.
    const tlsFiles = loadBrokerTls(this.options.tls);
    const refuse = (reason: string, detail: Record<string, unknown>) => {
      metrics.brokerRefused.inc({ reason });
      log.warn({ ...detail, reason }, 'broker refused');
    };
    this.aedes = await Aedes.createBroker({
      id: 'sannuo-embedded',
      // Devices' exact subscriptions answered from an index, not a scan of every retained state.
      persistence: indexedRetainedPersistence() as unknown as NonNullable<Parameters<typeof Aedes.createBroker>[0]>['persistence'],
      authenticate: (client, username, password, done) => {
        if (!username) {
          refuse('no-credentials', { client: client.id });
          return done(authError('credentials required', NOT_AUTHORIZED), false);
        }
        if (username === hub.username || username === intakeUsername(hub.username)) {
          if (password && password.toString() === hub.password) {
            identities.set(client, { kind: 'hub' });
            return done(null, true);
          }
          refuse('bad-password', { client: client.id, username });
          return done(authError('bad user name or password', BAD_USERNAME_OR_PASSWORD), false);
        }
        const verdict = registry.checkPassword(username, password);
        if (verdict !== 'ok') {
          refuse(verdict, { client: client.id, username });
          return done(authError('bad user name or password', BAD_USERNAME_OR_PASSWORD), false);
        }
        // A device's client id is its user name: otherwise any device's credentials could take
        // over (disconnect) another client by connecting with its id.
        if (client.id !== username) {
          refuse('client-id-mismatch', { client: String(client.id).slice(0, 100), username });
          return done(authError('client id must be the device id', IDENTIFIER_REJECTED), false);
        }
        identities.set(client, { kind: 'device', id: username, password: Buffer.from(password as Buffer) });
        done(null, true);
      },
      authorizePublish: (client, packet, done) => {
        // client is null for the broker's own publishes (e.g. $SYS); those are trusted.
        if (client === null || this.mayPublish(identities.get(client), packet.topic)) return done(null);
        const who = identities.get(client);
        refuse('publish-denied', { client: client.id, user: who?.kind === 'device' ? who.id : who?.kind, topic: packet.topic.slice(0, 200) });
        done(new Error(`publish to ${packet.topic.slice(0, 200)} not allowed`));
      },
      authorizeSubscribe: (client, subscription, done) => {
        if (this.maySubscribe(identities.get(client), subscription.topic)) return done(null, subscription);
        const who = identities.get(client);
        refuse('subscribe-denied', { client: client.id, user: who?.kind === 'device' ? who.id : who?.kind, topic: subscription.topic.slice(0, 200) });
        done(null, null); // a failure return code in the SUBACK, the connection stays up
      },
    });
    // Aedes 1.2 handles the packets of one socket read concurrently and then drops, as a
    // "duplicate", any message whose broker counter is below the last one delivered to that
    // subscriber. A retained publish waits for the retained store, so the next publish in the
    // same read overtakes it and the retained one is dropped: a device's retained state sent just
    // before its first event never reached the hub. Our subscribers hold no overlapping filters
    // (the ACLs see to that) and delivery rests on the hub's ack, so that dedupe is switched off.
    this.aedes.on('client', (client) => {
      (client as unknown as { duplicates: Record<string, number> }).duplicates = new Proxy({}, { get: () => 0, set: () => true });
      const who = identities.get(client);
      if (who?.kind === 'device') {
        this.devices.add(client as Pausable);
        if (this.hubBackedUp || this.hubHolds) (client as Pausable).pause();
        // Removed or re-keyed between its login and now, when dropIfRevoked could not find it yet.
        this.dropIfRevoked(who.id);
      } else if (who?.kind === 'hub') this.watchHub(client);
    });
    this.options.bus?.on('deviceChanged', 'broker', ({ dev }) => this.dropIfRevoked(dev));
    this.aedes.on('clientDisconnect', (client) => { this.devices.delete(client as Pausable); });
    this.aedes.on('clientError', (client, error) => log.debug({ client: client.id, err: error.message }, 'broker client error'));
    this.aedes.on('connectionError', (client, error) => log.debug({ client: client?.id, err: error.message }, 'broker connection error'));
    const aedes = this.aedes;
    // noDelay: MQTT packets are small and latency-bound; with Nagle on, a PUBACK or a display
    // command can wait for the peer's delayed ACK (40 ms on Linux).
    const maxPacket = this.options.maxPacketBytes ?? MAX_PACKET_BYTES;
    const maxPerAddress = this.options.maxConnectionsPerAddress ?? MAX_CONNECTIONS_PER_ADDRESS;
    const perAddress = new Map<string, number>();
    /** Counts a TCP connection against its address; false (and closed) when over the limit. */
    const admit = (socket: net.Socket): boolean => {
      const address = socket.remoteAddress ?? '';
      if (maxPerAddress > 0 && (this.options.limitLoopback || !isLoopback(address))) {
        const count = (perAddress.get(address) ?? 0) + 1;
        if (count > maxPerAddress) {
          refuse('too-many-connections', { address, limit: maxPerAddress });
          socket.destroy();
          return false;
        }
        perAddress.set(address, count);
        socket.once('close', () => {
          const left = (perAddress.get(address) ?? 1) - 1;
          if (left > 0) perAddress.set(address, left);
          else perAddress.delete(address);
        });
      }
      return true;
    };
    /** An admitted connection (plain, or TLS after its handshake) handed to Aedes behind the size guard. */
    const serve = (socket: net.Socket) => {
      const address = socket.remoteAddress ?? '';
      // Aedes reads with conn.read(null) and buffers a packet until it is whole, so a declared
      // 250 MB packet would be held in memory; its length is checked here, before the parser.
      const guard = new PacketSizeGuard(maxPacket);
      const read = socket.read;
      socket.read = function guardedRead(this: net.Socket, size?: number) {
        const buf = read.call(this, size) as Buffer | null;
        if (!buf) return buf;
        if (socket.destroyed) return null;
        if (!guard.feed(buf)) {
          refuse('packet-too-large', { address, limit: maxPacket });
          socket.destroy();
          return null;
        }
        return buf;
      } as net.Socket['read'];
      // Aedes writes each packet on its own; one writev per socket per event-loop turn instead.
      coalesceWrites(socket as unknown as Corkable);
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      aedes.handle(socket);
    };
    this.server = net.createServer({ noDelay: true }, (socket) => { if (admit(socket)) serve(socket); });
    // A deep accept queue: after a power cut every device of the hall reconnects at once, and
    // with Node's default (511) the overflow is refused and retried a second later.
    const listen = (server: net.Server, port: number, host: string) => new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, backlog: 4096 }, () => { server.off('error', reject); resolve((server.address() as net.AddressInfo).port); });
    });
    this.port = await listen(this.server, this.options.port, this.options.host);
    log.info({ port: this.port, host: this.options.host }, 'embedded MQTT broker listening');
    if (tlsFiles) {
      const t = this.options.tls!;
      this.tlsServer = createTlsListener(tlsFiles, {
        admit, serve, refuse,
        track: (raw) => { this.sockets.add(raw); raw.on('close', () => this.sockets.delete(raw)); },
      });
      this.tlsPort = await listen(this.tlsServer, t.port, t.host || this.options.host);
      log.info({ port: this.tlsPort, host: t.host || this.options.host }, 'embedded MQTT broker listening for MQTT over TLS');
    }
    // SANNUO_DEBUG_MEMORY=<file>: a JSON line per second of where the memory is (off by default;
    // for finding what holds memory in a reconnect storm).
    const memoryFile = process.env.SANNUO_DEBUG_MEMORY;
    if (memoryFile) this.memoryTimer = setInterval(() => this.sampleMemory(memoryFile), 1000).unref();
    return this.port;
  }

  /**
   * Closes a device's connection once its login no longer holds: removed, or re-keyed (its
   * password was derived from the old secret). A move or a config change leaves it connected.
   */
  private dropIfRevoked(dev: string): void {
    const client = (this.aedes as unknown as { clients?: Record<string, Client> } | undefined)?.clients?.[dev];
    const who = client && identities.get(client);
    if (!client || who?.kind !== 'device' || this.options.registry.checkPassword(dev, who.password) === 'ok') return;
    this.options.metrics.brokerRefused.inc({ reason: 'revoked' });
    this.options.log.info({ dev, reason: this.options.registry.get(dev) ? 're-keyed' : 'removed' }, 'device credentials revoked: its MQTT connection is closed');
    client.close();
  }

  private memoryTimer: NodeJS.Timeout | undefined;
  /** Connected device clients, paused together while the hub's connection is backed up. */
  private readonly devices = new Set<Pausable>();
  private hubBackedUp = false;
  /** The in-process hub holds its intake (see holdDevices). */
  private hubHolds = false;

  /**
   * Backpressure from the hub's connection to the devices. Aedes reads each device's socket a
   * read at a time and forwards every publish of it to the hub at once; when the hub holds its
   * intake (hub/ingest/ingest.ts), those forwards wait in this process in the hub connection's write
   * buffer, and in a reconnect storm 5,000 devices' batches pile up there (hundreds of MiB).
   * Above HUB_BACKLOG bytes unsent to the hub, every device client stops reading (Aedes's
   * pause(): the current read finishes, the socket and then TCP hold the rest), and all resume
   * once the hub's connection has drained.
   */
  private watchHub(client: Client): void {
    const conn = (client as unknown as { conn: net.Socket }).conn;
    if (!conn || typeof conn.write !== 'function') return;
    const write = conn.write;
    const resume = () => {
      conn.off('drain', resume);
      conn.off('close', resume);
      this.hubBackedUp = false;
      if (!this.hubHolds) for (const d of this.devices) d.resume();
    };
    conn.write = ((...args: Parameters<net.Socket['write']>) => {
      const ok = write.apply(conn, args);
      if (!this.hubBackedUp && conn.writableLength > HUB_BACKLOG) {
        this.hubBackedUp = true;
        for (const d of this.devices) d.pause();
        conn.once('drain', resume);
        conn.once('close', resume);
      }
      return ok;
    }) as net.Socket['write'];
  }

  private sampleMemory(file: string): void {
    const m = process.memoryUsage();
    const h = v8.getHeapStatistics();
    let writable = 0, readable = 0;
    for (const s of this.sockets) { writable += s.writableLength; readable += s.readableLength; }
    const mib = (n: number) => Math.round(n / 1048576);
    fs.appendFileSync(file, `${JSON.stringify({
      t: Date.now(), rss: mib(m.rss), heapUsed: mib(m.heapUsed), heapTotal: mib(m.heapTotal), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers),
      mallocd: mib(h.malloced_memory), clients: this.connectedClients(), sockets: this.sockets.size, socketWritableMiB: mib(writable), socketReadableMiB: mib(readable),
    })}\n`);
  }

  /** The hub's own backpressure (hub/mqtt/local-link.ts): every device client stops or resumes reading. */
  holdDevices(held: boolean): void {
    this.hubHolds = held;
    if (this.hubBackedUp) return; // paused already, and resumed when that ends
    for (const d of this.devices) held ? d.pause() : d.resume();
  }

  /** The running Aedes, for the hub's in-process link (hub/mqtt/local-link.ts). */
  instance(): Aedes {
    if (!this.aedes) throw new Error('the embedded broker is not running');
    return this.aedes;
  }

  connectedClients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  async stop(): Promise<void> {
    const servers = [this.server, this.tlsServer].filter((x): x is net.Server => !!x);
    const aedes = this.aedes;
    if (this.memoryTimer) clearInterval(this.memoryTimer);
    this.options.bus?.off('broker');
    this.server = undefined;
    this.tlsServer = undefined;
    this.aedes = undefined;
    if (servers.length) {
      const closed = Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      for (const socket of this.sockets) socket.destroy();
      await closed;
    }
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
  }
}
