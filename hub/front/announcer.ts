/**
 * The hall's announcement queue (叫号播报): one per hall, so announcements never overlap.
 *
 * A call, recall or transfer becomes a request; requests are voiced in the order they came
 * (rendering runs ahead, playing is strictly one after another), each chime + phrases as one
 * WAV. A request for the same ticket at the same window as one still waiting, or as one that
 * started less than `mergeMs` ago, is merged into it (a staff member pressing call twice, a
 * recall right after the call). Each announcement "starts" when the previous one has ended
 * plus `gapMs`; listeners (the hall board's streams) hear it then, with its audio's URL, and
 * the board plays it on arrival.
 */

import { join, chime, durationMs, writeWav, type Pcm } from './wav.js';
import { callPhrases, voicedPhrases, type CallKind, type Voice, ClipVoice } from './speech.js';

export interface CallRequest { kind: CallKind; number: string; win: string; winSpoken: string; at: number }

export interface Announcement {
  id: number;
  kind: CallKind;
  number: string;
  win: string;
  text: string;
  /** When the call was committed, and when its announcement starts (ms since epoch). */
  calledAt: number;
  startedAt: number;
  durationMs: number;
  /** Whether the voice failed and only the chime plays. */
  chimeOnly: boolean;
}

export interface AnnouncerOptions {
  voice: Voice;
  mergeMs: number;
  gapMs: number;
  now?: () => number;
  /** Announcements kept for their audio URL. */
  keep?: number;
  onError?: (error: unknown, request: CallRequest) => void;
}

export type AnnouncerOutcome = 'announced' | 'merged' | 'chime-only';

export class Announcer {
  private nextId = 1;
  private readonly audio = new Map<number, Buffer>();
  private readonly listeners = new Set<(a: Announcement) => void>();
  /** Requests not started yet, in order. */
  private readonly pending: (CallRequest & { id: number; rendered: Promise<{ wav: Buffer; ms: number; chimeOnly: boolean }> })[] = [];
  private readonly recent: Announcement[] = [];
  private busyUntil = 0;
  private renders: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  readonly counts: Record<AnnouncerOutcome, number> = { announced: 0, merged: 0, 'chime-only': 0 };

  constructor(private readonly o: AnnouncerOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  on(listener: (a: Announcement) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Announcements started, newest last. */
  history(): Announcement[] {
    return [...this.recent];
  }

  wav(id: number): Buffer | undefined {
    return this.audio.get(id);
  }

  /** Queues a call; returns 'merged' when it repeats one waiting or just started. */
  request(r: CallRequest): AnnouncerOutcome | 'queued' {
    if (this.stopped) return 'merged';
    const same = (x: { number: string; win: string }) => x.number === r.number && x.win === r.win;
    if (this.pending.some(same) || this.recent.some((a) => same(a) && r.at - a.startedAt < this.o.mergeMs && r.at >= a.calledAt)) {
      this.counts.merged++;
      return 'merged';
    }
    const id = this.nextId++;
    // Renders run one after another, in queue order: the first to play is ready first, and a
    // phrase twelve calls share is synthesized once (the next finds it in the cache).
    const rendered = this.renders.then(() => this.render(r));
    this.renders = rendered.then(() => undefined, () => undefined);
    this.pending.push({ ...r, id, rendered });
    void this.pump();
    return 'queued';
  }

  private async render(r: CallRequest): Promise<{ wav: Buffer; ms: number; chimeOnly: boolean }> {
    const voice = this.o.voice;
    const bell: Pcm | undefined = voice instanceof ClipVoice ? voice.chime() : undefined;
    if (this.stopped) return { wav: writeWav(bell ?? chime()), ms: 0, chimeOnly: true };
    try {
      const phrases: Pcm[] = [];
      for (const p of voicedPhrases(r.number, r.winSpoken)) phrases.push(await voice.phrase(p));
      const speech = join(phrases, 20);
      const pcm = join([bell ?? chime(speech.rate, speech.channels), speech], 250);
      return { wav: writeWav(pcm), ms: durationMs(pcm), chimeOnly: false };
    } catch (error) {
      // No voice (espeak-ng missing, a clip missing): the chime still tells the hall to look up.
      this.o.onError?.(error, r);
      const pcm = bell ?? chime();
      return { wav: writeWav(pcm), ms: durationMs(pcm), chimeOnly: true };
    }
  }

  /** Starts the pending announcements one after another. */
  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.pending.length && !this.stopped) {
        const wait = this.busyUntil - this.now();
        if (wait > 0) { await new Promise<void>((resolve) => { this.timer = setTimeout(resolve, wait); }); continue; }
        const next = this.pending[0];
        const { wav, ms, chimeOnly } = await next.rendered;
        this.pending.shift();
        if (this.stopped) break;
        const startedAt = this.now();
        const a: Announcement = {
          id: next.id, kind: next.kind, number: next.number, win: next.win, text: callPhrases(next.number, next.winSpoken).join(''),
          calledAt: next.at, startedAt, durationMs: ms, chimeOnly,
        };
        this.busyUntil = startedAt + ms + this.o.gapMs;
        this.audio.set(a.id, wav);
        this.recent.push(a);
        const keep = this.o.keep ?? 64;
        while (this.recent.length > keep) this.audio.delete(this.recent.shift()!.id);
        this.counts[chimeOnly ? 'chime-only' : 'announced']++;
        for (const l of this.listeners) { try { l(a); } catch { /* a board stream's failure is its own */ } }
      }
    } finally {
      this.running = false;
    }
  }

  /** Resolves once no render is in flight, so the cache folder can be removed. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.listeners.clear();
    await this.renders;
  }
}
