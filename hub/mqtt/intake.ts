/**
 * The intake thread: device events are received and authenticated on a worker thread of their
 * own (hub/mqtt/intake-worker.ts), so the main thread spends its time on what must be serial — the
 * dedupe, the ledger's hash chain, the queue and the commit — while the other core reads MQTT
 * packets and checks HMACs. Per event that moves about a third of ingest's CPU off the main
 * thread (bench/RESULTS.md, ingest: hub CPU per event).
 *
 * What crosses to the main thread is only what the worker could verify with the device's key:
 * the signed lines themselves, parsed again there (JSON.parse, about a microsecond). Anything
 * else crosses raw and takes the ordinary path (Ingest.handle), so errors are logged, counted
 * and refused exactly as without the thread, and a device provisioned a moment ago is never
 * rejected for want of a key the worker has not received yet.
 *
 * The worker connects with the hub's own MQTT identity (a second client id) and subscribes to
 * the evt topic only; the hub's main link keeps the state topic, acks and commands. Exactly-once
 * is untouched: nothing is acked before the main thread's commit, and a message lost with
 * either connection is resent by its device.
 */

import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { toHex } from '../../firmware/core/utf8.js';

/** workerData of the intake thread. */
export interface IntakeStart { url: string; username: string; password: string; clientId: string; persistent: boolean; site: string; logLevel: string }
/** Main → worker. */
export type IntakeControl =
  | { kind: 'keys'; keys: [string, string][] }
  | { kind: 'hold'; held: boolean }
  | { kind: 'close' };
/** Worker → main, once per turn of the worker's event loop. */
export interface IntakeBatch {
  verified: { dev: string; lines: string[] }[];
  raw: { topic: string; payload: Uint8Array }[];
}

export interface IntakeSink {
  takeVerified(dev: string, lines: string[]): void;
  handle(topic: string, payload: Uint8Array): void;
}

const START_TIMEOUT = 30_000; // ms for the worker to load, connect and subscribe

/**
 * The worker runs TypeScript sources: it registers tsx itself (the hub may be running under
 * tsx, or in-process in a test runner whose loader a worker does not inherit).
 */
function bootstrap(): string {
  // tsx's ESM entry (require.resolve would give its CommonJS one, which cannot register hooks here).
  const tsxPackage = createRequire(import.meta.url).resolve('tsx/package.json');
  const tsx = pathToFileURL(path.join(path.dirname(tsxPackage), 'dist/esm/api/index.mjs')).href;
  const worker = new URL('./intake-worker.ts', import.meta.url).href;
  return `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(worker)}); })`
    + `.catch((error) => { require('node:worker_threads').parentPort.postMessage({ failed: String(error && error.stack || error) }); });`;
}

export class IntakeThread {
  private worker: Worker | undefined;
  private closed = false;

  constructor(private readonly start: IntakeStart, private readonly sink: IntakeSink, private readonly metrics: Metrics, private readonly log: Logger) {}

  /** Starts the worker; resolves once it is connected and subscribed. */
  async open(keys: Iterable<[string, Uint8Array]>): Promise<void> {
    const worker = new Worker(bootstrap(), { eval: true, workerData: this.start, execArgv: [] });
    this.worker = worker;
    this.setKeys(keys);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`intake thread did not connect to ${this.start.url} within ${START_TIMEOUT / 1000} s`)), START_TIMEOUT);
      worker.on('message', (m: IntakeBatch | { ready?: true; failed?: string; closed?: true }) => {
        if ('verified' in m) {
          for (const v of m.verified) this.sink.takeVerified(v.dev, v.lines);
          for (const r of m.raw) this.sink.handle(r.topic, r.payload);
          if (m.verified.length) this.metrics.intakeMessages.inc({ path: 'verified' }, m.verified.length);
          if (m.raw.length) this.metrics.intakeMessages.inc({ path: 'raw' }, m.raw.length);
        } else if (m.ready) {
          clearTimeout(timer);
          resolve();
        } else if (m.failed) {
          clearTimeout(timer);
          reject(new Error(`intake thread failed to start: ${m.failed}`));
        }
      });
      worker.on('error', (error) => {
        clearTimeout(timer);
        this.log.error({ err: error }, 'intake thread crashed');
        reject(error);
      });
      worker.on('exit', (code) => {
        clearTimeout(timer);
        if (!this.closed) {
          this.log.error({ code }, 'intake thread exited');
          reject(new Error(`intake thread exited with code ${code}`));
        }
      });
    });
  }

  /** Signing keys of devices the worker may verify for (added or replaced). */
  setKeys(keys: Iterable<[string, Uint8Array]>): void {
    const list: [string, string][] = [];
    for (const [dev, key] of keys) list.push([dev, toHex(key)]);
    this.worker?.postMessage({ kind: 'keys', keys: list } satisfies IntakeControl);
  }

  /** Backpressure: the worker stops (or resumes) reading its socket. */
  hold(held: boolean): void {
    this.worker?.postMessage({ kind: 'hold', held } satisfies IntakeControl);
  }

  /** Disconnects; the messages it had already read are handed over first. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker || this.closed) return;
    this.closed = true;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ kind: 'close' } satisfies IntakeControl);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    await worker.terminate().catch(() => undefined);
  }
}
