/**
 * The embedded broker's MQTT-over-TLS listener (settings mqtt.tlsListener): its cert and key
 * loaded and checked before anything listens, and the TLS server whose connections go through
 * the same address limit and then the same packet-size guard and Aedes as the plain ones
 * (hub/mqtt/broker.ts).
 */

import fs from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';
import { SettingsError } from '../settings.js';

/** The TLS listener's settings (mqtt.tlsListener): PEM file paths; empty cert and key: no TLS listener. */
export interface BrokerTls {
  /** '' listens on the plain listener's host. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  cert: string;
  key: string;
}

/** TLS handshakes that take longer are dropped: a stalled handshake holds a socket for nothing. */
const TLS_HANDSHAKE_TIMEOUT = 10_000; // milliseconds

/**
 * The TLS listener's cert and key read from their files, or undefined when it is off. Every
 * problem names its setting: a missing half, an unreadable file, a pair that does not load.
 */
export function loadBrokerTls(t: BrokerTls | undefined): { cert: Buffer; key: Buffer } | undefined {
  if (!t || (!t.cert && !t.key)) return undefined;
  const problems: string[] = [];
  if (!t.cert) problems.push('mqtt.tlsListener.cert: empty, but mqtt.tlsListener.key is set; give both PEM files, or neither for no TLS listener');
  if (!t.key) problems.push('mqtt.tlsListener.key: empty, but mqtt.tlsListener.cert is set; give both PEM files, or neither for no TLS listener');
  if (problems.length) throw new SettingsError(problems);
  const read = (name: 'cert' | 'key'): Buffer | undefined => {
    try {
      return fs.readFileSync(t[name]);
    } catch (error) {
      problems.push(`mqtt.tlsListener.${name}: cannot read ${t[name]}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      return undefined;
    }
  };
  const cert = read('cert');
  const key = read('key');
  if (!cert || !key) throw new SettingsError(problems);
  try {
    tls.createSecureContext({ cert, key });
  } catch (error) {
    throw new SettingsError([`mqtt.tlsListener.cert, mqtt.tlsListener.key: ${t.cert} and ${t.key} are not a PEM certificate and its private key (${(error as Error).message})`]);
  }
  return { cert, key };
}

export interface TlsListenerHooks {
  /** Counts a TCP connection against its address; false (and closed) when over the limit. */
  admit(raw: net.Socket): boolean;
  /** An admitted TCP connection, for the broker's list of sockets to close at stop. */
  track(raw: net.Socket): void;
  /** A connection whose handshake completed: on to the packet-size guard and Aedes. */
  serve(socket: tls.TLSSocket): void;
  refuse(reason: string, detail: Record<string, unknown>): void;
}

/** The TLS server (not yet listening). */
export function createTlsListener(files: { cert: Buffer; key: Buffer }, hooks: TlsListenerHooks): tls.Server {
  const server = tls.createServer({ ...files, minVersion: 'TLSv1.2', handshakeTimeout: TLS_HANDSHAKE_TIMEOUT });
  // The address limit counts TCP connections, before any handshake work.
  const turnedAway = new WeakSet<net.Socket>();
  server.on('connection', (raw: net.Socket) => {
    raw.setNoDelay(true);
    if (!hooks.admit(raw)) return void turnedAway.add(raw);
    hooks.track(raw);
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => hooks.serve(socket));
  server.on('tlsClientError', (error, socket) => {
    // A plain-TCP client on this port, a wrong protocol, a handshake that timed out (one
    // turned away by the address limit was counted as that already).
    const raw = (socket as unknown as { _parent?: net.Socket })._parent; // Node keeps the TCP socket under a TLSSocket there
    if (raw && turnedAway.has(raw)) return;
    hooks.refuse('tls-handshake', { address: socket.remoteAddress, err: error.message.slice(0, 200) });
  });
  return server;
}
