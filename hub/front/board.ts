/**
 * The hall board (综合屏), a full-screen page for a TV, and the hall's spoken calls.
 *
 *   GET /board/                     the page
 *   GET /api/board/state            the board's state as JSON
 *   GET /api/board/stream           Server-Sent Events: 'state' (the whole board) on connect and on
 *                                   every change, 'announce' when an announcement starts, a ping
 *                                   every 15 s
 *   GET /api/board/audio/:id        an announcement's WAV
 *
 * Public, as the TV in the hall is: ticket numbers, windows, items and waiting counts, never a
 * staff member's or a citizen's name.
 *
 * Live without reloads: EventSource reconnects by itself (retry 1 s) when the hub restarts, and
 * each connection starts with the whole state, so a board that missed events while the hub was
 * away is current again on reconnect. The page also reopens a stream that has been silent
 * for 45 s (a ping every 15 s means it is dead: a proxy, a sleeping Wi-Fi link), and the
 * hub sends the whole state every minute, so after days of idle the board shows the current
 * state, not the last one it happened to hear (peers' displays go stale: FQM #298).
 *
 * Calls, recalls and transfers to a window are announced through one Announcer per hall
 * (hub/front/announcer.ts), from the committed device events.
 */

import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Feature, FeatureDeps } from '../feature.js';
import type { QueueService } from '../queue/service.js';
import { calledAt, lastTransferFrom, recentCalls } from '../queue/front.js';
import { Announcer, type Announcement, type CallRequest } from './announcer.js';
import { COMMON_PHRASES, ClipVoice, EspeakVoice, spokenWindow, type CallKind, type Voice } from './speech.js';
import { servePage } from './static-files.js';
import type { Settings } from '../settings.js';
import type { LedAdapter } from './led.js';

export interface BoardOptions {
  queue: QueueService;
  hallName: string;
  settings: Settings['front'];
  /** The hub's data folder: the phrase cache lives under it. */
  dataDir: string;
  /** The window a device is installed at. */
  winOf: (dev: string) => string | undefined;
  registry?: Registry;
  /** A voice other than the settings' (tests, benches). */
  voice?: Voice;
  led?: LedAdapter;
}

export interface BoardState {
  hallName: string;
  at: number;
  day: string;
  utcOffsetMinutes: number;
  calls: { number: string; win: string; winName: string; item: string; itemName: string; at: number }[];
  windows: { id: string; name: string; paused: boolean; pauseReason: string | null; current: string | null }[];
  items: { code: string; name: string; waiting: number }[];
  waiting: number;
  notice: string;
  hours: string;
}

const PING_MS = 15_000;
const REFRESH_MS = 60_000;
const CALL_TYPES: readonly string[] = ['call', 'recall', 'transfer'];

export class Board implements Feature {
  readonly name = 'board';
  readonly announcer: Announcer | undefined;
  private readonly voice: Voice | undefined;
  private readonly streams = new Set<FastifyReply>();
  private timers: NodeJS.Timeout[] = [];
  private pushTimer: NodeJS.Timeout | undefined;
  private readonly announced: Counter<'outcome'> | undefined;
  private readonly startDelay: Histogram | undefined;

  constructor(private readonly deps: FeatureDeps, private readonly o: BoardOptions) {
    const a = o.settings.announcer;
    if (a.enabled) {
      const voice = this.voice = o.voice ?? (a.clips ? new ClipVoice(a.clips) : new EspeakVoice({ cacheDir: path.join(o.dataDir, 'announcer-cache'), binary: a.espeak, voice: a.voice, speed: a.speed }));
      this.announcer = new Announcer({
        voice, mergeMs: a.mergeMs, gapMs: a.gapMs, now: deps.now,
        onError: (error, r) => deps.log.error({ err: error, number: r.number, win: r.win }, 'announcer: voice failed; the chime plays alone'),
      });
    }
    if (o.registry) {
      this.announced = (o.registry.getSingleMetric('sannuo_announcements_total') as Counter<'outcome'> | undefined)
        ?? new Counter({ name: 'sannuo_announcements_total', help: 'Call announcements: announced, merged into one queued or just started, chime-only (the voice failed)', labelNames: ['outcome'], registers: [o.registry] });
      this.startDelay = (o.registry.getSingleMetric('sannuo_announcement_start_seconds') as Histogram | undefined)
        ?? new Histogram({ name: 'sannuo_announcement_start_seconds', help: 'Seconds from a call committed to its announcement starting (the queue waits for those before it)', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40], registers: [o.registry] });
    }
  }

  start(): void {
    const { bus } = this.deps;
    // A set-up change (a window named, an item added) may bring words not rendered yet.
    bus.on('windowChanged', this.name, () => { this.schedulePush(); void this.warm(); });
    bus.on('queueChanged', this.name, () => this.schedulePush());
    bus.on('eventCommitted', this.name, async ({ dev, type }) => {
      if (!CALL_TYPES.includes(type)) return;
      this.schedulePush();
      const win = this.o.winOf(dev);
      if (win) await this.announceFrom(win, type as CallKind);
    });
    this.announcer?.on((a) => this.onAnnouncement(a));
    void this.warm();
    this.timers.push(setInterval(() => this.broadcast(`event: ping\ndata: ${this.deps.now()}\n\n`), PING_MS));
    this.timers.push(setInterval(() => this.schedulePush(), REFRESH_MS));
    for (const t of this.timers) t.unref();
  }

  /** Waits for a render in flight: espeak-ng writing into the cache after stop would race the folder's removal. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.bus.off(this.name);
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.pushTimer) clearTimeout(this.pushTimer);
    this.o.led?.close();
    this.endStreams();
    await Promise.all([this.announcer?.stop(), this.warmRun]);
  }

  private endStreams(): void {
    for (const s of this.streams) s.raw.end();
    this.streams.clear();
  }

  /** Renders ahead every unit a call can say (digits, fixed words, window names, item prefixes), so calls never wait for espeak-ng. */
  warm(): Promise<void> {
    // Kept with the run already going: a call that returns early must not hide it from stop().
    const run = this.warmUnits();
    this.warmRun = Promise.all([this.warmRun, run]).then(() => undefined);
    return run;
  }

  private async warmUnits(): Promise<void> {
    const voice = this.voice;
    // At most every 10 s: windowChanged fires on every call, and a burst of calls must not pay for set-up reads.
    if (!voice || voice instanceof ClipVoice || this.warming || this.deps.now() - this.warmedAt < 10_000) return;
    this.warming = true;
    this.warmedAt = this.deps.now();
    try {
      const setup = await this.o.queue.setup();
      const units = new Set([...COMMON_PHRASES, ...setup.windows.map((w) => spokenWindow(w.id, w.name)), ...setup.items.flatMap((i) => [...i.prefix])]);
      for (const u of units) {
        if (this.stopped) return;
        if (this.warmed.has(u)) continue;
        await voice.phrase(u);
        this.warmed.add(u);
      }
    } catch (error) {
      this.deps.log.warn({ err: error }, 'announcer: could not render phrases ahead; calls render them when they come');
    } finally {
      this.warming = false;
    }
  }

  private warming = false;
  private stopped = false;
  private warmRun: Promise<void> = Promise.resolve();
  private warmedAt = -Infinity;
  private readonly warmed = new Set<string>();

  /** What a committed call, recall or transfer at `win` says, queued on the hall's announcer. */
  private async announceFrom(win: string, kind: CallKind): Promise<void> {
    if (!this.announcer) return;
    const { queue } = this.o;
    const at = this.deps.now();
    const nameOf = await this.windowNames();
    let request: CallRequest | undefined;
    if (kind === 'transfer') {
      // A transfer to a window by name sends the citizen there now; one to an item waits for its call.
      const t = await lastTransferFrom(this.deps.db, win, queue.dayOf(at));
      if (t) request = { kind, number: t.number, win: t.toWin, winSpoken: spokenWindow(t.toWin, nameOf(t.toWin)), at };
    } else {
      const t = await calledAt(this.deps.db, win);
      if (t) request = { kind, number: t.number, win, winSpoken: spokenWindow(win, nameOf(win)), at };
    }
    if (!request) return;
    if (this.announcer.request(request) === 'merged') this.announced?.inc({ outcome: 'merged' });
  }

  private names: { at: number; names: Promise<Map<string, string>> } | undefined;

  /** Window names for the spoken text, read at most once a second: twelve calls at once share one read. */
  private async windowNames(): Promise<(id: string) => string> {
    const now = this.deps.now();
    if (!this.names || now - this.names.at > 1000) this.names = { at: now, names: this.o.queue.setup().then((s) => new Map(s.windows.map((w) => [w.id, w.name]))) };
    const names = await this.names.names;
    return (id) => names.get(id) ?? id;
  }

  private onAnnouncement(a: Announcement): void {
    this.announced?.inc({ outcome: a.chimeOnly ? 'chime-only' : 'announced' });
    this.startDelay?.observe(Math.max(0, a.startedAt - a.calledAt) / 1000);
    this.broadcast(`event: announce\ndata: ${JSON.stringify({ ...a, url: `/api/board/audio/${a.id}` })}\n\n`);
    this.o.led?.show(a);
  }

  async state(): Promise<BoardState> {
    const { queue, settings } = this.o;
    const at = this.deps.now();
    const day = queue.dayOf(at);
    const [snap, setup, calls] = await Promise.all([queue.snapshot(), queue.setup(), recentCalls(this.deps.db, day, settings.board.calls)]);
    const winName = new Map(setup.windows.map((w) => [w.id, w.name]));
    const itemName = new Map(setup.items.map((i) => [i.code, i.name]));
    return {
      hallName: this.o.hallName, at, day, utcOffsetMinutes: queue.policy.utcOffsetMinutes,
      calls: calls.map((c) => ({ ...c, winName: winName.get(c.win) ?? c.win, itemName: itemName.get(c.item) ?? c.item })),
      windows: setup.windows.map((w) => ({ id: w.id, name: w.name, paused: w.paused, pauseReason: w.pauseReason, current: w.current })),
      items: snap.items.map((i) => ({ code: i.code, name: i.name, waiting: i.waiting })),
      waiting: snap.waiting, notice: settings.board.notice, hours: settings.board.hours,
    };
  }

  /** Changes come in bursts (a call touches several windows): one state message per burst. */
  private schedulePush(): void {
    if (this.pushTimer || this.streams.size === 0) return;
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined;
      void this.state().then((s) => this.broadcast(`event: state\ndata: ${JSON.stringify(s)}\n\n`))
        .catch((error: unknown) => this.deps.log.error({ err: error }, 'board: state read failed'));
    }, 20);
  }

  private broadcast(text: string): void {
    for (const s of this.streams) s.raw.write(text);
  }

  routes(app: FastifyInstance): void {
    // Streams never end by themselves: closed before the server waits for its connections, so a hub stops promptly.
    app.addHook('preClose', async () => this.endStreams());
    servePage(app, 'board');
    app.get('/api/board/state', async () => this.state());
    app.get<{ Params: { id: string } }>('/api/board/audio/:id', async (req, reply) => {
      const wav = /^\d{1,9}$/.test(req.params.id) ? this.announcer?.wav(Number(req.params.id)) : undefined;
      if (!wav) return reply.code(404).send({ error: 'not-found', message: `announcement ${req.params.id} is not kept (the last 64 are)`, field: 'params.id' });
      return reply.header('cache-control', 'private, max-age=3600').type('audio/wav').send(wav);
    });
    app.get('/api/board/stream', async (req, reply) => {
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      reply.raw.write(`retry: 1000\n\n`);
      this.streams.add(reply);
      req.raw.on('close', () => this.streams.delete(reply));
      try {
        reply.raw.write(`event: state\ndata: ${JSON.stringify(await this.state())}\n\n`);
      } catch (error) {
        this.deps.log.error({ err: error }, 'board: state read failed');
      }
    });
  }
}
