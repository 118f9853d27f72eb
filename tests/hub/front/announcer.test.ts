/**
 * Spoken calls: the words, the pinyin espeak-ng gets, the per-phrase WAV cache (real espeak-ng
 * from Debian), the recorded-clip voice, and the hall's one queue (order kept, no overlap,
 * repeats merged).
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Announcer, type Announcement } from '../../../hub/front/announcer.js';
import { ClipVoice, EspeakVoice, callPhrases, cardinal, spokenNumber, spokenWindow, toPinyin } from '../../../hub/front/speech.js';
import { chime, durationMs, readWav, writeWav } from '../../../hub/front/wav.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-announcer-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the words: digits one by one in the number, the window as a number, pinyin with tone numbers', () => {
  expect(spokenNumber('A042')).toBe('A零四二');
  expect([cardinal(3), cardinal(10), cardinal(12), cardinal(20), cardinal(35)]).toEqual(['三', '十', '十二', '二十', '三十五']);
  expect(spokenWindow('W03', 'Window 3')).toBe('三号窗口');
  expect(spokenWindow('W12', '12号窗口')).toBe('十二号窗口');
  expect(spokenWindow('W1', '一号窗口')).toBe('一号窗口');
  expect(callPhrases('A042', '三号窗口').join(' ')).toBe('请 A零四二号 到 三号窗口 办理');
  expect(toPinyin('请A零四二号到三号窗口办理')).toBe('qing3 A ling2 si4 er4 hao4 dao4 san1 hao4 chuang1 kou3 ban4 li3');
});

test('espeak-ng renders each phrase once into the cache; an announcement WAV lasts as long as its words', async () => {
  const voice = new EspeakVoice({ cacheDir: path.join(dir, 'cache') });
  const a = await voice.phrase('三号窗口');
  expect(voice.rendered).toBe(1);
  expect(fs.existsSync(voice.cacheFile('三号窗口'))).toBe(true);
  await voice.phrase('三号窗口');
  expect(voice.rendered).toBe(1);
  expect(a.rate).toBe(22050);
  // Four syllables: between half a second and two seconds.
  expect(durationMs(a)).toBeGreaterThan(500);
  expect(durationMs(a)).toBeLessThan(2000);

  const announcer = new Announcer({ voice, mergeMs: 3000, gapMs: 100 });
  const started: Announcement[] = [];
  announcer.on((x) => started.push(x));
  announcer.request({ kind: 'call', number: 'A042', win: 'W3', winSpoken: '三号窗口', at: Date.now() });
  while (started.length < 1) await new Promise((r) => setTimeout(r, 20));
  const wav = readWav(announcer.wav(started[0].id)!);
  // Chime (0.9 s) + 请 A零四二号 到 三号窗口 办理: about 3–6 s.
  expect(durationMs(wav)).toBeGreaterThan(3000);
  expect(durationMs(wav)).toBeLessThan(6500);
  expect(started[0]).toMatchObject({ number: 'A042', text: '请A零四二号到三号窗口办理', chimeOnly: false });
  await announcer.stop();
});

test('one queue: three calls at once start in order, each after the one before has ended; repeats are merged', async () => {
  // Fast speech: the order and the spacing are what is tested, not the voice.
  const voice = new EspeakVoice({ cacheDir: path.join(dir, 'cache-fast'), speed: 450 });
  const announcer = new Announcer({ voice, mergeMs: 3000, gapMs: 100 });
  const started: Announcement[] = [];
  announcer.on((x) => started.push(x));
  const at = Date.now();
  expect(announcer.request({ kind: 'call', number: 'A001', win: 'W1', winSpoken: '一号窗口', at })).toBe('queued');
  expect(announcer.request({ kind: 'call', number: 'B001', win: 'W2', winSpoken: '二号窗口', at })).toBe('queued');
  expect(announcer.request({ kind: 'recall', number: 'A001', win: 'W1', winSpoken: '一号窗口', at })).toBe('merged');
  expect(announcer.request({ kind: 'call', number: 'C001', win: 'W3', winSpoken: '三号窗口', at })).toBe('queued');
  while (started.length < 3) await new Promise((r) => setTimeout(r, 20));
  expect(started.map((x) => x.number)).toEqual(['A001', 'B001', 'C001']);
  for (let i = 1; i < 3; i++) expect(started[i].startedAt).toBeGreaterThanOrEqual(started[i - 1].startedAt + started[i - 1].durationMs + 100);
  // Within mergeMs of its start, the same call again is merged; a different window's is not.
  expect(announcer.request({ kind: 'recall', number: 'C001', win: 'W3', winSpoken: '三号窗口', at: started[2].startedAt + 500 })).toBe('merged');
  expect(announcer.counts).toMatchObject({ announced: 3, merged: 2 });
  await announcer.stop();
}, 30_000);

test('recorded clips: joined in order, longest name first; a missing clip is named', async () => {
  const clips = path.join(dir, 'clips');
  fs.mkdirSync(clips);
  const tone = (ms: number) => writeWav({ rate: 16000, channels: 1, samples: new Int16Array(16 * ms).fill(1000) });
  for (const [name, ms] of [['请', 100], ['A', 50], ['零', 50], ['四', 50], ['二', 50], ['号', 50], ['到', 50], ['三', 50], ['号窗口', 200], ['办理', 120], ['chime', 300]] as const) fs.writeFileSync(path.join(clips, `${name}.wav`), tone(ms));
  const voice = new ClipVoice(clips);
  expect(voice.spell('三号窗口')).toEqual(['三', '号窗口']);
  expect(durationMs(await voice.phrase('A零四二号'))).toBe(250);
  expect(() => voice.spell('五号窗口')).toThrow(/no clip for 「五」/);
  const announcer = new Announcer({ voice, mergeMs: 1000, gapMs: 0 });
  const started: Announcement[] = [];
  announcer.on((x) => started.push(x));
  announcer.request({ kind: 'call', number: 'A042', win: 'W3', winSpoken: '三号窗口', at: Date.now() });
  while (started.length < 1) await new Promise((r) => setTimeout(r, 20));
  // chime 300 + 250 ms after it + units 请 A 零 四 二 号 到 三号窗口 办理 (100 + 6 × 50 + 250 + 120) + 8 gaps of 20.
  expect(started[0].durationMs).toBe(300 + 250 + 770 + 160);
  expect(durationMs(chime())).toBe(900);
  await announcer.stop();
});

test('stop waits for the render in flight, and renders nothing queued after it', async () => {
  // A slow voice: stop() must not resolve while it is still writing, or the hub's data folder
  // is removed under it (seen in CI as ENOTEMPTY on announcer-cache).
  let inFlight = 0;
  let spoken = 0;
  const pcm = chime();
  const voice = {
    name: 'slow',
    async phrase(): Promise<typeof pcm> {
      inFlight++;
      await new Promise((r) => setTimeout(r, 150));
      inFlight--;
      spoken++;
      return pcm;
    },
  };
  const announcer = new Announcer({ voice, mergeMs: 1000, gapMs: 0 });
  announcer.request({ kind: 'call', number: 'A001', win: 'W1', winSpoken: '一号窗口', at: Date.now() });
  announcer.request({ kind: 'call', number: 'A002', win: 'W2', winSpoken: '二号窗口', at: Date.now() });
  await new Promise((r) => setTimeout(r, 20));
  expect(inFlight).toBe(1);
  await announcer.stop();
  expect(inFlight).toBe(0);
  const after = spoken;
  await new Promise((r) => setTimeout(r, 400));
  // The first call's render finishes its phrase; the second call's never starts.
  expect(spoken).toBe(after);
});
