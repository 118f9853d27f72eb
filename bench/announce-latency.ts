/**
 * Call → announcement start, run on demand (never by the tests):
 *   npx tsx bench/announce-latency.ts [--windows 12] [--rounds 2] [--speed 160]
 *
 * The hub runs in its own process with its real announcer (espeak-ng cmn-latn-pinyin, the
 * per-phrase cache in its data folder). The bench reads the hall board's event stream
 * (/api/board/stream) as a board would. Each round, every window's display publishes a signed
 * `call` at the same moment; for each call the bench takes the time from its publish to
 * - the board's state showing it (the 'state' event listing that number first for its window),
 * - its announcement starting (the 'announce' event).
 * Announcements never overlap, so the k-th of a round starts after the k−1 before it have
 * played: the figure that says how the queue itself performs is the first of each round
 * (render + queue) and the overhead beyond the playing time of those ahead.
 */

import { Command } from 'commander';
import { BenchHub } from './support/hub.js';
import { FakeDevice } from '../support/device.js';
import { emit, log, percentile, round, sleep, type Figure } from './support/result.js';

interface Options { windows: number; rounds: number; speed: number }
interface Announce { number: string; win: string; calledAt: number; startedAt: number; durationMs: number }

async function main(): Promise<void> {
  const o = new Command()
    .option('--windows <n>', 'windows calling at once', (v) => Number.parseInt(v, 10), 12)
    .option('--rounds <n>', 'rounds of simultaneous calls', (v) => Number.parseInt(v, 10), 2)
    .option('--speed <n>', 'espeak-ng words per minute', (v) => Number.parseInt(v, 10), 160)
    .parse()
    .opts<Options>();
  const hub = new BenchHub({ broker: 'embedded', env: { SANNUO_FRONT_ANNOUNCER_SPEED: String(o.speed) } });
  await hub.start();
  const abort = new AbortController();
  try {
    const wins = Array.from({ length: o.windows }, (_, i) => `W${i + 1}`);
    await hub.setUpHall(wins, o.windows * (o.rounds + 1) + 5);
    const displays = (await hub.provisionMany(wins.map((win, i) => ({ role: 'display' as const, win, id: `disp-${i + 1}` })))).map((c) => new FakeDevice(c, { track: false }));
    for (const d of displays) await d.connect(hub.mqttUrl, { will: false });

    // The board's stream, read as a board reads it.
    const shown = new Map<string, number>(); // "win number" → when the board's state first listed it
    const announced = new Map<string, { at: number; a: Announce }>();
    const res = await fetch(`${hub.http}/api/board/stream`, { signal: abort.signal });
    void (async () => {
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          const at = performance.now();
          buf += decoder.decode(chunk, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const event = /^event: (.+)$/m.exec(block)?.[1];
            const data = /^data: (.+)$/m.exec(block)?.[1];
            if (!event || !data) continue;
            if (event === 'state') {
              for (const c of (JSON.parse(data) as { calls: { number: string; win: string }[] }).calls) if (!shown.has(`${c.win} ${c.number}`)) shown.set(`${c.win} ${c.number}`, at);
            } else if (event === 'announce') {
              const a = JSON.parse(data) as Announce;
              announced.set(`${a.win} ${a.number}`, { at, a });
            }
          }
        }
      } catch { /* aborted at the end */ }
    })();
    await sleep(500);

    const toStart: number[] = [];
    const toBoard: number[] = [];
    const first: number[] = [];
    const overhead: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const before = new Set(announced.keys());
      const lines = displays.map((d) => d.sign('call', { win: d.config.win, staff: null }));
      const sent = performance.now();
      await Promise.all(displays.map((d, i) => d.publish(lines[i])));
      const deadline = Date.now() + 120_000;
      while ([...announced.keys()].filter((k) => !before.has(k)).length < o.windows && Date.now() < deadline) await sleep(50);
      const round = [...announced.entries()].filter(([k]) => !before.has(k)).map(([k, v]) => ({ k, ...v })).sort((x, y) => x.a.startedAt - y.a.startedAt);
      if (round.length < o.windows) throw new Error(`round ${r + 1}: ${round.length}/${o.windows} announcements within 120 s`);
      let played = 0;
      round.forEach((x, i) => {
        toStart.push(x.at - sent);
        const s = shown.get(x.k);
        if (s !== undefined) toBoard.push(s - sent);
        if (i === 0) first.push(x.at - sent);
        // What the queue added beyond the audio of those ahead (and the gaps between them).
        else overhead.push(x.a.startedAt - round[0].a.startedAt - played);
        played += x.a.durationMs + 400;
      });
      log(`announce-latency: round ${r + 1}: first started ${round[0].at - sent | 0} ms after the calls, last ${round[round.length - 1].at - sent | 0} ms; mean announcement ${round.reduce((n, x) => n + x.a.durationMs, 0) / round.length | 0} ms`);
      // Calls of the next round come after this round's last announcement has been spoken.
      await sleep(round[round.length - 1].a.durationMs + 1000);
    }
    for (const d of displays) await d.close();
    const figures: Figure[] = [
      { name: `call → announcement start p50 (${o.windows} windows at once)`, value: round(percentile(toStart, 50) / 1000, 2), unit: 's', note: 'one queue per hall: the later calls wait for the ones before to be spoken' },
      { name: `call → announcement start p99 (${o.windows} windows at once)`, value: round(percentile(toStart, 99) / 1000, 2), unit: 's' },
      { name: 'call → first announcement of a round starting', value: round(percentile(first, 50), 0), unit: 'ms', bar: { op: '<', limit: 1000, text: '< 1 s' }, note: `rounds: ${first.map((x) => Math.round(x)).join(', ')} ms (the first round renders every phrase; later ones find most in the cache)` },
      { name: 'queue overhead beyond the playing time ahead, p99', value: round(percentile(overhead, 99), 0), unit: 'ms', bar: { op: '<', limit: 500, text: '< 500 ms' } },
      { name: 'call → board state showing it, p99', value: round(percentile(toBoard, 99), 0), unit: 'ms', bar: { op: '<', limit: 1000, text: '< 1 s' }, note: `p50 ${round(percentile(toBoard, 50), 0)} ms` },
    ];
    emit({
      bench: 'announce-latency', title: 'Call → announcement start, 12 windows calling at once', figures,
      config: { windows: o.windows, rounds: o.rounds, calls: toStart.length, voice: `espeak-ng cmn-latn-pinyin, ${o.speed} wpm`, 'gap between announcements ms': 400, 'hub peak RSS MiB': round(hub.memory().peakMiB, 0) },
      notes: ['Start = the hub sends the announcement to the boards (SSE), measured where the bench reads the stream; a board plays it on arrival.'],
    });
  } finally {
    abort.abort();
    await hub.stop();
  }
}

main().then(() => process.exit(0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
