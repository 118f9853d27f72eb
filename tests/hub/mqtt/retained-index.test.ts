import type { Readable } from 'node:stream';
import { indexedRetainedPersistence, memoryPersistence as memory } from '../../../hub/mqtt/retained-index.js';

type Store = { storeRetained(p: object): Promise<void>; createRetainedStreamCombi(t: string[]): Readable; createRetainedStream(t: string): Readable };

async function topics(stream: Readable): Promise<string[]> {
  const out: string[] = [];
  for await (const packet of stream) out.push((packet as { topic: string }).topic);
  return out.sort();
}

const packet = (topic: string, payload: string) => ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, brokerId: 'x', brokerCounter: 1 });

test('answers exact and wildcard filters exactly as aedes-persistence does', async () => {
  const plain = memory() as unknown as Store;
  const indexed = indexedRetainedPersistence() as unknown as Store;
  const writes = [
    packet('sannuo/v1/h/pad-1/state', 'a'), packet('sannuo/v1/h/pad-2/state', 'b'), packet('sannuo/v1/h/pad-1/cmd', 'c'),
    packet('sannuo/v1/h/pad-2/state', ''), // cleared
    packet('sannuo/v1/h/pad-3/state', 'd'),
  ];
  for (const w of writes) { await plain.storeRetained(w); await indexed.storeRetained(w); }
  const filters = [['sannuo/v1/h/pad-1/cmd', 'sannuo/v1/h/pad-1/ack'], ['sannuo/v1/h/pad-2/state'], ['sannuo/v1/h/+/state'], ['sannuo/v1/#'], ['sannuo/v1/h/pad-3/state', 'sannuo/v1/h/pad-1/+']];
  for (const f of filters) {
    expect(await topics(indexed.createRetainedStreamCombi(f))).toEqual(await topics(plain.createRetainedStreamCombi(f)));
  }
  expect(await topics(indexed.createRetainedStream('sannuo/v1/h/pad-3/state'))).toEqual(['sannuo/v1/h/pad-3/state']);
  expect(await topics(indexed.createRetainedStreamCombi(['sannuo/v1/h/+/state']))).toEqual(['sannuo/v1/h/pad-1/state', 'sannuo/v1/h/pad-3/state']);
});

test('an exact subscription no longer scans every retained message', async () => {
  const indexed = indexedRetainedPersistence() as unknown as Store;
  for (let i = 0; i < 20_000; i++) await indexed.storeRetained(packet(`sannuo/v1/h/d${i}/state`, 's'));
  const started = process.hrtime.bigint();
  for (let i = 0; i < 2_000; i++) await topics(indexed.createRetainedStreamCombi([`sannuo/v1/h/d${i}/cmd`, `sannuo/v1/h/d${i}/ack`]));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  // A scan would test 2,000 × 2 × 20,000 = 80 million topics; the index does 4,000 lookups.
  expect(ms).toBeLessThan(5_000);
});
