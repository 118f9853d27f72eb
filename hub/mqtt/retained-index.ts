/**
 * Aedes's in-memory persistence, with retained messages also indexed by exact topic.
 *
 * On every SUBSCRIBE, aedes-persistence 11 tests the filter against *every* retained message
 * (a Qlobber per call). Each device retains its state and subscribes to its own cmd and ack
 * topics, so a hall's devices coming online cost O(devices²): 4,000 devices spent a third of
 * the hub's CPU there and took 32 s to connect; 10,000 never settled. A device's filters have
 * no wildcards, so they are answered from a Map; wildcard filters (the hub's) go the old way.
 */

import { Readable } from 'node:stream';
import * as persistenceModule from 'aedes-persistence';
import type { AedesMemoryPersistence } from 'aedes-persistence';

type Packet = { topic: string; payload: Buffer | Uint8Array | string };
type Persistence = AedesMemoryPersistence;

// A CommonJS package: its function is the module itself under Node's ESM loader, `.default` under a bundler's interop.
const loaded = persistenceModule as unknown as (() => Persistence) | { default: () => Persistence };
/** aedes-persistence's own in-memory store. */
export const memoryPersistence: () => Persistence = typeof loaded === 'function' ? loaded : loaded.default;

const WILDCARD = /[+#]/;

export function indexedRetainedPersistence(): Persistence {
  const persistence = memoryPersistence();
  const byTopic = new Map<string, Packet>();
  const p = persistence as unknown as {
    storeRetained(packet: Packet, cb?: (error?: Error | null) => void): Promise<void> | void;
    createRetainedStream(pattern: string): Readable;
    createRetainedStreamCombi(patterns: string[]): Readable;
  };
  const store = p.storeRetained.bind(p);
  const stream = p.createRetainedStream.bind(p);
  const combi = p.createRetainedStreamCombi.bind(p);
  p.storeRetained = (packet, cb) => {
    // Same rule as the store underneath: an empty payload clears the topic's retained message.
    if (packet.payload.length === 0) byTopic.delete(packet.topic);
    else byTopic.set(packet.topic, { ...packet });
    return store(packet, cb);
  };
  const exact = (patterns: string[]) => Readable.from(patterns.flatMap((topic) => {
    const packet = byTopic.get(topic);
    return packet ? [packet] : [];
  }));
  p.createRetainedStream = (pattern) => (WILDCARD.test(pattern) ? stream(pattern) : exact([pattern]));
  p.createRetainedStreamCombi = (patterns) => (patterns.some((t) => WILDCARD.test(t)) ? combi(patterns) : exact(patterns));
  return persistence;
}
