/**
 * A simulated hall: every window's display and pad as SimDevices (the firmware core, unchanged),
 * the citizens who take tickets at the kiosk (the hub's HTTP API), the staff who press the caller
 * keys on the displays, and the citizens who press the pad keys when the pad asks them to rate.
 *
 * Nobody here reads the hub's queue: staff act on what their window's display shows, citizens on
 * what the display calls and what the pad shows — exactly what people in a hall see. Every
 * citizen's press is recorded (`presses`), so a test can hold the ledger against it.
 *
 * All behaviour runs on the shared VirtualTime and draws from seeded streams (simulator/random.ts)
 * — one per citizen, one per window, one for arrivals — so one seed gives one hall.
 */

import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { parseDeviceConfig, type DeviceConfig } from '../firmware/core/config.js';
import { BAD_RATING_REASONS, type BadRatingReason, type RatingLevel } from '../firmware/core/protocol.js';
import type { TimerId, View } from '../firmware/core/hardware.js';
import { CALLER_KEYS } from '../firmware/core/caller.js';
import { DiskFlash } from './disk-flash.js';
import { MemoryFlash } from './flash.js';
import { HubApiError, type HubClient } from './hub-client.js';
import { Random } from './random.js';
import { scenarioDevices, type FaultSpec, type Scenario, type WindowSpec } from './scenario.js';
import { SimDevice, type TransferTargetSpec } from './sim-device.js';
import { SimPartitions } from './ota.js';
import type { VirtualTime } from './virtual-time.js';

const SECOND = 1000; // milliseconds
const REACTION = 2 * SECOND; // milliseconds staff take to react to their display
const WATCHDOG = 20 * SECOND; // milliseconds staff wait for the display to answer a key
const REASON_DELAY = 2 * SECOND; // milliseconds a citizen takes to pick a bad-rating reason

/** One press of a citizen on a pad, as the citizen meant it. */
export interface CitizenPress {
  citizen: number;
  /** The ticket the citizen held (the service that was rated). */
  ticket: string;
  win: string;
  pad: string;
  /** The ticket the pad showed when pressed; null when the pad was offline and showed none. */
  shown: string | null;
  level: RatingLevel;
  reason: BadRatingReason | null;
  /** Virtual time of the level press. */
  at: number;
  /** True once the pad said thank you: the rating is durably in its outbox. */
  taken: boolean;
}

type CitizenState = 'waiting' | 'called' | 'atWindow' | 'done' | 'gone';

interface Citizen {
  n: number;
  item: string;
  ticket: string;
  state: CitizenState;
  win: string | null;
  noShow: boolean;
  slow: boolean;
  rng: Random;
  /** Windows this citizen was served at, last first; the rating goes to the last. */
  servedAt: string | null;
  decided: boolean;
}

type Phase = 'idle' | 'calling' | 'waiting' | 'serving' | 'finishing' | 'transferring' | 'paused';

class WindowSim {
  phase: Phase = 'idle';
  /** Ticket being handled. */
  current: string | null = null;
  /** What the display showed when staff last pressed a key that should change it. */
  before: { ticket: string | null; status: string } | null = null;
  timers: TimerId[] = [];
  watchdog: TimerId | undefined;
  pauseDue = 0; // virtual ms
  /** The press waiting for the pad's thank-you. */
  awaitingThanks: CitizenPress | undefined;
  readonly rng: Random;
  constructor(readonly spec: WindowSpec, readonly display: SimDevice, readonly pad: SimDevice, seed: number) {
    this.rng = Random.stream(seed, `window:${spec.id}`);
  }
}

export interface HallStats {
  arrived: number;
  issued: number;
  issueFailed: number;
  called: number;
  served: number;
  noShows: number;
  recalls: number;
  transfers: number;
  pauses: number;
  rateViews: number;
  pressed: number;
  taken: number;
  skipped: number;
  offlinePresses: number;
  faults: number;
}

export interface HallOptions {
  scenario: Scenario;
  hub: HubClient;
  /** Broker the devices connect to (overrides the host in their provisioned config). */
  mqttUrl: string;
  time: VirtualTime;
  /** Device configs and flash live here, so a restarted simulator keeps them; memory when absent. */
  stateDir?: string;
  log?: Logger;
  /** brokerRestart and hubKill: the processes belong to the runner (the CLI or the test). */
  onFault?: (fault: FaultSpec) => void | Promise<void>;
  historyCap?: number;
  reconnectPeriod?: number;
}

export class Hall extends EventEmitter {
  readonly scenario: Scenario;
  readonly devices = new Map<string, SimDevice>();
  readonly windows = new Map<string, WindowSim>();
  readonly citizens = new Map<string, Citizen>();
  readonly presses: CitizenPress[] = [];
  private readonly counts: Omit<HallStats, 'noShows' | 'recalls' | 'transfers' | 'pauses'> = {
    arrived: 0, issued: 0, issueFailed: 0, called: 0, served: 0, rateViews: 0, pressed: 0, taken: 0, skipped: 0, offlinePresses: 0, faults: 0,
  };

  /** What happened so far; recalls, no-shows, transfers and pauses are what the callers accepted (stored), not the presses. */
  get stats(): HallStats {
    const a = { recalls: 0, noShows: 0, transfers: 0, pauses: 0 };
    for (const sim of this.windows.values()) {
      const d = sim.display.accepted();
      a.recalls += d.recalls; a.noShows += d.noShows; a.transfers += d.transfers; a.pauses += d.pauses;
    }
    return { ...this.counts, ...a };
  }
  /** HTTP calls not yet answered (the virtual driver waits for them). */
  busy = 0;
  /** Bumped by every MQTT message in or out and every HTTP answer. */
  activity = 0;
  readonly start: number;
  readonly end: number;
  private readonly log: Logger;
  private readonly time: VirtualTime;
  private http: Promise<unknown> = Promise.resolve();
  private readonly arrivals: Random;
  private citizenCount = 0;
  private stopped = false;
  private arrivalTimer: TimerId | undefined;

  constructor(readonly options: HallOptions) {
    super();
    this.setMaxListeners(1000);
    this.scenario = options.scenario;
    this.time = options.time;
    this.log = options.log ?? pino({ level: 'silent' });
    this.arrivals = Random.stream(this.scenario.seed, 'arrivals');
    this.start = this.time.now();
    this.end = this.start + this.scenario.duration * SECOND;
  }

  // ------------------------------------------------------------ set-up

  /** Provisions (or reloads) every device, sets the hall up through the hub's API, powers on. */
  async setup(): Promise<void> {
    const s = this.scenario;
    const hub = this.options.hub;
    const configs = await this.deviceConfigs();
    for (const d of s.departments) await hub.putDepartment(d.id, d.name);
    for (const item of s.items) await hub.putItem(item.id, { name: item.name, department: item.dept, prefix: item.prefix, limitDays: 0 });
    const itemDept = new Map(s.items.map((i) => [i.id, i.dept]));
    for (const m of s.staff) {
      const win = s.windows.find((w) => w.staff === m.id);
      await hub.putStaff(m.id, { name: m.name || m.id, department: m.dept || itemDept.get(win?.items[0] ?? '') || s.departments[0].id });
    }
    for (const w of s.windows) await hub.putWindow(w.id, { name: w.name, items: w.items });
    for (const w of s.windows) await hub.signIn(w.id, w.staff);

    const stateDir = this.options.stateDir;
    s.windows.forEach((w, i) => {
      const next = s.windows[(i + 1) % s.windows.length];
      const targets: TransferTargetSpec[] = s.windows.length > 1 ? [{ toWin: next.id, toItem: null, label: next.name }] : [];
      const make = (id: string) => {
        const config = configs.get(id)!;
        const flash = stateDir
          ? new DiskFlash(path.join(stateDir, 'flash', id), { capacity: Math.max(config.outboxBytes * 2, 64 * 1024) })
          : new MemoryFlash({ capacity: Math.max(config.outboxBytes * 2, 64 * 1024) });
        const device = new SimDevice({
          config, time: this.time, mqttUrl: this.options.mqttUrl, flash, transferTargets: targets,
          seed: this.scenario.seed ^ hashId(id), historyCap: this.options.historyCap ?? 8,
          reconnectPeriod: this.options.reconnectPeriod,
          // Firmware slots of its own: `sannuo ota rollout` updates the simulated hall too, its images fetched from the hub it talks to.
          ota: { partitions: new SimPartitions(), httpBase: this.options.hub.base },
          onView: (dev, view) => this.onView(dev, view),
          onActivity: () => { this.activity++; },
          onPowerCut: (dev, torn) => {
            this.log.info({ device: dev.id, torn }, 'power cut');
            this.emit('powerCut', dev, torn);
          },
        });
        this.devices.set(id, device);
        return device;
      };
      const display = make(w.display);
      const pad = make(w.pad);
      const sim = new WindowSim(w, display, pad, s.seed);
      sim.pauseDue = this.nextPause(sim);
      this.windows.set(w.id, sim);
    });
    for (const device of this.devices.values()) device.powerOn();
  }

  private async deviceConfigs(): Promise<Map<string, DeviceConfig>> {
    const s = this.scenario;
    const out = new Map<string, DeviceConfig>();
    const dir = this.options.stateDir ? path.join(this.options.stateDir, 'devices') : undefined;
    if (dir) fs.mkdirSync(dir, { recursive: true });
    for (const d of scenarioDevices(s)) {
      const file = dir ? path.join(dir, `${d.id}.json`) : undefined;
      if (file && fs.existsSync(file)) {
        const parsed = parseDeviceConfig(JSON.parse(fs.readFileSync(file, 'utf8')));
        if (Array.isArray(parsed)) throw new Error(`${file}: ${parsed.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
        out.set(d.id, parsed);
        continue;
      }
      let config: DeviceConfig;
      try {
        config = await this.options.hub.provision({ role: d.role, win: d.win, id: d.id, fw: s.devices.fw });
      } catch (error) {
        if (error instanceof HubApiError && error.status === 409) {
          throw new Error(`device ${d.id} is already provisioned at the hub, but its config (with its secret) is not in ${dir ?? 'this run'}; `
            + 'run the simulator with the state folder that provisioned it (--state), or against a fresh hub data folder');
        }
        throw error;
      }
      config = { ...config, rateTimeout: s.devices.rateTimeout, unsolicited: s.devices.unsolicited, outboxBytes: s.devices.outboxBytes };
      if (file) fs.writeFileSync(file, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
      out.set(d.id, config);
    }
    return out;
  }

  /** Starts arrivals, the staff at every window and the scheduled faults. */
  run(): void {
    this.scheduleArrival();
    for (const sim of this.windows.values()) this.later(sim, REACTION, () => this.decide(sim));
    for (const fault of this.scenario.faults) {
      this.setTimer(() => void this.inject(fault), Math.max(0, this.start + fault.at * SECOND - this.time.now()));
    }
  }

  /** Stops arrivals and every device (links closed, flash left as it is). */
  shutdown(): void {
    this.stopped = true;
    if (this.arrivalTimer !== undefined) this.time.clear(this.arrivalTimer);
    for (const sim of this.windows.values()) this.clearPlans(sim);
    for (const device of this.devices.values()) device.shutdown();
  }

  // ------------------------------------------------------------ citizens

  private rateAt(t: number): number {
    const perHour = this.scenario.arrivals.perHour;
    if (typeof perHour === 'number') return perHour;
    const hour = Math.floor((t - this.start) / 3600_000);
    return perHour[Math.min(hour, perHour.length - 1)];
  }

  /** Poisson arrivals with an hourly rate, by thinning against the highest rate. */
  private scheduleArrival(): void {
    const perHour = this.scenario.arrivals.perHour;
    const max = typeof perHour === 'number' ? perHour : Math.max(...perHour);
    if (!(max > 0)) return;
    let t = this.time.now();
    for (;;) {
      t += Math.max(1, Math.round(this.arrivals.exponential(3600_000 / max)));
      if (t >= this.end) return;
      if (this.arrivals.next() * max < this.rateAt(t)) break;
    }
    const shares: Record<string, number> = {};
    for (const item of this.scenario.items) shares[item.id] = item.share;
    const item = this.arrivals.weighted(shares)!;
    this.arrivalTimer = this.setTimer(() => {
      this.arrivalTimer = undefined;
      if (this.stopped) return;
      this.arrive(item);
      this.scheduleArrival();
    }, t - this.time.now());
  }

  private arrive(item: string): void {
    const n = ++this.citizenCount;
    this.counts.arrived++;
    const rng = Random.stream(this.scenario.seed, `citizen:${n}`);
    const b = this.scenario.behaviour;
    const noShow = rng.chance(b.noShow);
    const slow = !noShow && rng.chance(b.recall);
    this.call(async () => {
      try {
        const ticket = await this.options.hub.issueTicket(item);
        this.counts.issued++;
        this.citizens.set(ticket.number, { n, item, ticket: ticket.number, state: 'waiting', win: null, noShow, slow, rng, servedAt: null, decided: false });
        // Staff at idle windows look up when the queue screen shows someone new.
        for (const sim of this.windows.values()) if (sim.phase === 'idle' && sim.spec.items.includes(item)) this.later(sim, REACTION, () => this.decide(sim));
      } catch (error) {
        this.counts.issueFailed++;
        this.log.warn({ err: (error as Error).message, item }, 'citizen could not get a ticket');
      }
    });
  }

  /** HTTP calls run one at a time, in the order the hall made them (same seed, same ticket numbers). */
  private call(fn: () => Promise<void>): void {
    this.busy++;
    this.http = this.http.then(fn).catch((error) => this.log.error({ err: error }, 'hall HTTP call failed')).finally(() => {
      this.busy--;
      this.activity++;
    });
  }

  private waitingFor(sim: WindowSim): number {
    let count = 0;
    for (const c of this.citizens.values()) if (c.state === 'waiting' && sim.spec.items.includes(c.item)) count++;
    return count;
  }

  // ------------------------------------------------------------ staff at a window

  private later(sim: WindowSim, ms: number, fn: () => void): void {
    sim.timers.push(this.setTimer(fn, ms));
  }

  /** Whole milliseconds only: event times are integers on the wire. */
  private setTimer(fn: () => void, ms: number): TimerId {
    return this.time.set(fn, Math.max(0, Math.round(ms)));
  }

  private clearPlans(sim: WindowSim): void {
    for (const t of sim.timers) this.time.clear(t);
    sim.timers = [];
    if (sim.watchdog !== undefined) this.time.clear(sim.watchdog);
    sim.watchdog = undefined;
  }

  private press(sim: WindowSim, key: number): void {
    sim.display.press(key, this.scenario.devices.keyHold);
  }

  /** Presses a key that should change the display, and waits for it to. */
  private pressAndExpect(sim: WindowSim, key: number, phase: Phase): void {
    const view = sim.display.view;
    sim.before = view && view.screen === 'window' ? { ticket: view.ticket, status: view.status } : null;
    sim.phase = phase;
    this.press(sim, key);
    this.armWatchdog(sim);
  }

  private armWatchdog(sim: WindowSim): void {
    if (sim.watchdog !== undefined) this.time.clear(sim.watchdog);
    sim.watchdog = this.setTimer(() => {
      sim.watchdog = undefined;
      // An event still in the outbox (offline) will reach the hub later: keep waiting for it.
      if (sim.display.pending() > 0 || sim.display.link !== 'up') return this.armWatchdog(sim);
      // The hub answered nothing visible (nobody waiting, or a refusal): look again.
      sim.phase = 'idle';
      sim.current = null;
      this.decide(sim);
    }, WATCHDOG);
  }

  /** What an idle member of staff does next. */
  private decide(sim: WindowSim): void {
    if (this.stopped || sim.phase !== 'idle') return;
    const view = sim.display.view;
    if (!view || view.screen !== 'window' || !view.online || !sim.display.powered) {
      this.later(sim, 5 * SECOND, () => this.decide(sim));
      return;
    }
    const now = this.time.now();
    if (view.status === 'paused') {
      // Paused by an earlier run, or a resume still on its way: resume.
      this.later(sim, REACTION, () => { if (sim.phase === 'idle') this.press(sim, CALLER_KEYS.pause); });
      this.later(sim, 10 * SECOND, () => this.decide(sim));
      return;
    }
    if (now >= sim.pauseDue && now < this.end) {
      sim.phase = 'paused';
      this.press(sim, CALLER_KEYS.pause);
      const minutes = sim.rng.exponential(this.scenario.behaviour.pauseMinutes);
      this.later(sim, Math.max(30 * SECOND, minutes * 60 * SECOND), () => {
        this.press(sim, CALLER_KEYS.pause);
        sim.phase = 'idle';
        sim.pauseDue = this.nextPause(sim);
        this.later(sim, REACTION * 2, () => this.decide(sim));
      });
      return;
    }
    if (this.waitingFor(sim) > 0 || view.waiting > 0) {
      this.pressAndExpect(sim, CALLER_KEYS.next, 'calling');
      return;
    }
    this.later(sim, this.scenario.behaviour.idlePoll * SECOND, () => this.decide(sim));
  }

  private nextPause(sim: WindowSim): number {
    const perHour = this.scenario.behaviour.pausePerHour;
    if (!(perHour > 0)) return Infinity;
    return this.time.now() + sim.rng.exponential(3600_000 / perHour);
  }

  private onDisplay(sim: WindowSim, view: View): void {
    if (view.screen !== 'window' || this.stopped) return;
    const shown = view.ticket;
    const called = shown !== null && (view.status === 'called' || view.status === 'recalled' || view.status === 'serving');
    switch (sim.phase) {
      case 'calling':
      case 'finishing':
      case 'transferring': {
        const before = sim.before;
        if (before && before.ticket === shown && before.status === view.status) return; // redraw, not an answer
        if (sim.watchdog !== undefined) this.time.clear(sim.watchdog);
        sim.watchdog = undefined;
        if (called && shown !== sim.current) this.startTicket(sim, shown!);
        else if (!called) {
          sim.phase = 'idle';
          sim.current = null;
          this.later(sim, REACTION, () => this.decide(sim));
        }
        return;
      }
      case 'idle':
        if (called && shown !== sim.current) this.startTicket(sim, shown!);
        return;
      case 'waiting':
      case 'serving':
        if (called && shown !== sim.current) this.startTicket(sim, shown!);
        return;
      case 'paused':
        return;
    }
  }

  /** The display calls `ticket` here: the citizen comes (or is slow, or never comes). */
  private startTicket(sim: WindowSim, ticket: string): void {
    this.clearPlans(sim);
    this.counts.called++;
    sim.phase = 'waiting';
    sim.current = ticket;
    const b = this.scenario.behaviour;
    const c = this.citizens.get(ticket);
    const walk = this.scenario.service.walk * SECOND;
    const comes = c && c.state === 'waiting' && !c.noShow;
    if (c && c.state === 'waiting') { c.state = 'called'; c.win = sim.spec.id; }
    if (comes && !c!.slow) {
      this.later(sim, walk, () => this.citizenArrives(sim, c!));
      return;
    }
    // Slow, absent or unknown: recall once, then (if still nobody) no-show.
    this.later(sim, b.recallAfter * SECOND, () => {
      if (sim.current !== ticket || sim.phase !== 'waiting') return;
      this.press(sim, CALLER_KEYS.recall);
      if (comes) {
        c!.slow = false;
        this.later(sim, walk, () => this.citizenArrives(sim, c!));
      } else {
        this.later(sim, b.noShowAfter * SECOND, () => {
          if (sim.current !== ticket || sim.phase !== 'waiting') return;
          if (c && c.state === 'called') c.state = c.noShow ? 'gone' : 'waiting';
          sim.current = null;
          this.pressAndExpect(sim, CALLER_KEYS.noShow, 'finishing');
        });
      }
    });
  }

  private citizenArrives(sim: WindowSim, c: Citizen): void {
    if (sim.current !== c.ticket || sim.phase !== 'waiting') return;
    c.state = 'atWindow';
    sim.phase = 'serving';
    const win = sim.spec.id;
    this.call(async () => { await this.options.hub.serving(win).catch((error) => this.log.warn({ err: (error as Error).message, win }, 'serving call failed')); });
    const item = this.scenario.items.find((i) => i.id === c.item)!;
    const sv = this.scenario.service;
    const mean = item.serviceMean > 0 ? item.serviceMean : sv.mean;
    const seconds = Math.max(sv.min, sv.distribution === 'fixed' ? mean : sv.distribution === 'exponential' ? c.rng.exponential(mean) : c.rng.lognormal(mean, sv.sd));
    const transfer = this.windows.size > 1 && c.rng.chance(this.scenario.behaviour.transfer);
    if (transfer) {
      this.later(sim, (seconds * SECOND) / 2, () => {
        if (sim.current !== c.ticket || sim.phase !== 'serving') return;
        this.press(sim, CALLER_KEYS.transfer);
        this.later(sim, 1500, () => {
          c.state = 'waiting';
          c.win = null;
          sim.current = null;
          this.pressAndExpect(sim, CALLER_KEYS.next, 'transferring');
        });
      });
      return;
    }
    this.later(sim, seconds * SECOND, () => this.finish(sim, c));
  }

  /** The service is over: staff press next, once the display is online to take it. */
  private finish(sim: WindowSim, c: Citizen): void {
    if (sim.current !== c.ticket || sim.phase !== 'serving') return;
    const view = sim.display.view;
    if (!sim.display.powered || !view || view.screen !== 'window' || !view.online || sim.display.link !== 'up') {
      this.later(sim, 5 * SECOND, () => this.finish(sim, c));
      return;
    }
    this.counts.served++;
    c.state = 'done';
    c.servedAt = sim.spec.id;
    this.awaitRating(sim, c);
    this.pressAndExpect(sim, CALLER_KEYS.next, 'finishing');
  }

  // ------------------------------------------------------------ citizens at the pad

  /** After the service the citizen stays a little for the pad; offline, rates it anyway. */
  private awaitRating(sim: WindowSim, c: Citizen): void {
    this.setTimer(() => {
      if (c.decided || this.stopped) return;
      const view = sim.pad.view;
      if (sim.pad.powered && view && !('online' in view && view.online) && view.screen !== 'rate') {
        // The pad is offline and shows no request: the citizen rates "this service" anyway.
        this.decideRating(sim, c, null);
      } else {
        c.decided = true; // walked away without being asked
      }
    }, 10 * SECOND);
  }

  private onPad(sim: WindowSim, view: View): void {
    if (this.stopped) return;
    if (view.screen === 'rate' && view.ticket) {
      this.counts.rateViews++;
      const c = this.citizens.get(view.ticket);
      if (c && c.state === 'done' && c.servedAt === sim.spec.id && !c.decided) this.decideRating(sim, c, view.ticket);
      return;
    }
    if (view.screen === 'thanks' && sim.awaitingThanks) {
      const p = sim.awaitingThanks;
      if (p.level === view.level) {
        p.taken = true;
        this.counts.taken++;
        sim.awaitingThanks = undefined;
      }
    }
  }

  private decideRating(sim: WindowSim, c: Citizen, shown: string | null): void {
    c.decided = true;
    const r = this.scenario.ratings;
    if (c.rng.chance(r.skip)) {
      this.counts.skipped++;
      return;
    }
    const level = Number(c.rng.weighted(r.levels)) as RatingLevel;
    const reason = level <= 2 ? (c.rng.weighted(r.reasons) ?? 'other') as BadRatingReason : null;
    const delay = Math.max(SECOND, c.rng.exponential(r.delay * SECOND));
    this.setTimer(() => {
      if (this.stopped || !sim.pad.powered) return;
      const view = sim.pad.view;
      if (shown !== null && !(view && view.screen === 'rate' && view.ticket === shown)) return; // the request went away
      const press: CitizenPress = { citizen: c.n, ticket: c.ticket, win: sim.spec.id, pad: sim.pad.id, shown, level, reason, at: this.time.now(), taken: false };
      this.presses.push(press);
      this.counts.pressed++;
      if (shown === null) this.counts.offlinePresses++;
      sim.awaitingThanks = press;
      sim.pad.press(5 - level, this.scenario.devices.keyHold);
      if (reason) {
        this.setTimer(() => {
          const v = sim.pad.view;
          if (v && v.screen === 'reason') sim.pad.press(BAD_RATING_REASONS.indexOf(reason), this.scenario.devices.keyHold);
        }, REASON_DELAY);
      }
      this.emit('press', press);
    }, delay);
  }

  // ------------------------------------------------------------ views

  private onView(device: SimDevice, view: View): void {
    const sim = this.windows.get(device.win);
    if (sim) {
      if (device === sim.display) this.onDisplay(sim, view);
      else if (device === sim.pad) this.onPad(sim, view);
    }
    this.emit('view', device, view);
  }

  // ------------------------------------------------------------ faults

  /** Devices a fault names: a device id, a window id (both devices) or * (all). */
  targets(spec: string): SimDevice[] {
    if (spec === '*') return [...this.devices.values()];
    const device = this.devices.get(spec);
    if (device) return [device];
    const sim = this.windows.get(spec);
    if (sim) return [sim.display, sim.pad];
    throw new Error(`fault target "${spec}": not a device or window of this hall`);
  }

  /** Injects one fault now. Returns what the targets held unacked at that moment. */
  async inject(fault: Partial<FaultSpec> & { kind: FaultSpec['kind'] }): Promise<{ devices: string[]; pending: number }> {
    const f: FaultSpec = { at: 0, device: '*', duration: 10, hours: 3, key: 0, ...fault };
    this.counts.faults++;
    this.log.info({ fault: f }, 'fault');
    this.emit('fault', f);
    if (f.kind === 'brokerRestart' || f.kind === 'hubKill') {
      const pending = [...this.devices.values()].reduce((sum, d) => sum + Math.max(0, d.pending()), 0);
      await this.options.onFault?.(f);
      return { devices: [], pending };
    }
    const targets = this.targets(f.device);
    const pending = targets.reduce((sum, d) => sum + Math.max(0, d.pending()), 0);
    const ms = f.duration * SECOND;
    for (const d of targets) {
      switch (f.kind) {
        case 'powerCut': d.powerCut(ms, { midWrite: true }); break;
        case 'wifiDrop': d.wifiDrop(ms); break;
        case 'clockSkew': d.clockSkew(f.hours * 3600_000); break;
        case 'keyBounce': d.bounceNext = true; break;
        case 'stuckKey': d.stickKey(f.key, ms); break;
        case 'flashFull': d.flashFull(ms); break;
        case 'wrongKey': d.wrongKeyFor(ms); break;
      }
    }
    return { devices: targets.map((d) => d.id), pending };
  }

  // ------------------------------------------------------------ state for views and tests

  /** Every window with what its display and pad last rendered. */
  snapshot(): { at: number; name: string; waiting: number; stats: HallStats; windows: { id: string; name: string; phase: Phase; display: { id: string; link: string; powered: boolean; pending: number; view: View | null }; pad: { id: string; link: string; powered: boolean; pending: number; view: View | null } }[] } {
    let waiting = 0;
    for (const c of this.citizens.values()) if (c.state === 'waiting') waiting++;
    const dev = (d: SimDevice) => ({ id: d.id, link: d.link, powered: d.powered, pending: d.pending(), view: d.view ?? null });
    return {
      at: this.time.now(), name: this.scenario.name, waiting, stats: { ...this.stats },
      windows: [...this.windows.values()].map((w) => ({ id: w.spec.id, name: w.spec.name, phase: w.phase, display: dev(w.display), pad: dev(w.pad) })),
    };
  }

  /** Unsettled events over every device. */
  pendingEvents(): number {
    let sum = 0;
    for (const d of this.devices.values()) sum += Math.max(0, d.pending());
    return sum;
  }

  /** Citizens still waiting or being served (the run drains until none are). */
  activeCitizens(): number {
    let n = 0;
    for (const c of this.citizens.values()) if (c.state === 'waiting' || c.state === 'called' || c.state === 'atWindow') n++;
    return n;
  }
}

function hashId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
