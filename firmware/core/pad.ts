/**
 * RatingPad: the citizen's five-key pad at a window (评诺). Keys 0..4 are levels 5..1:
 * 非常满意 满意 基本满意 不满意 非常不满意.
 *
 *   idle ──rateReq──▶ rate ──press 3..5──────────────▶ thanks ──(thanksMs)──▶ idle
 *                      │ └─press 1..2──▶ reason ──press──┘ ▲
 *                      │                   └──(timeout: reason "other")──┘
 *                      └──(rateTimeout or the request expires)──▶ idle
 *
 * One service, one rating: a request is rated once, and presses after that are ignored. A 差评
 * needs a reason, chosen on the same five keys (BAD_RATING_REASONS). Offline, the pad still takes
 * a rating: the event carries the window and hub-corrected time (the Device stamps it), the
 * pending request if one is still valid (else ticket and req null) and offline:true, and the hub
 * binds it. A press with no request pending while online follows `unsolicited`: 'ignore' shows a
 * notice, 'bind' records it for the hub to bind like an offline rating (offline stays the
 * truth about the link; req null is what asks the hub to bind). A rating without a request is
 * taken at most once per served interval (minServiceMs since the pad's last rating): one
 * service, one rating, so a flood of presses cannot pour ratings into the window's figures.
 *
 * The pad never touches the outbox: it calls the `emit` port, and shows "thank you" only after
 * the event is durably in flash (emit ok). When the flash is full it says so and asks the citizen
 * to rate at the desk — it never pretends.
 */

import type { Display, Sound, Timers, View } from './hardware.js';
import { OneShot } from './one-shot.js';
import { BAD_RATING_MAX, BAD_RATING_REASONS, type BadRatingReason, type CommandBodies, type EventBodies, type EventType, type RatingLevel } from './protocol.js';
import type { UnsolicitedPolicy } from './config.js';

/** What the outbox answers (structurally compatible with outbox.ts AddResult). */
export type EmitResult = { ok: true } | { ok: false; reason: string; message: string };
/** The port the Device gives its roles: sign, number and store one event durably. */
export type Emit = <K extends EventType>(type: K, body: EventBodies[K]) => EmitResult;

export interface PadSettings {
  win: string;
  /** Milliseconds a rating request, or the reason menu, waits before giving up. */
  rateTimeout: number;
  unsolicited: UnsolicitedPolicy;
  idleText: string;
}

export interface PadDeps {
  display: Display;
  sound: Sound;
  timers: Timers;
  /** Hub-corrected time, ms since the epoch. */
  now(): number;
  emit: Emit;
  /** Whether the link to the hub is up. */
  online(): boolean;
}

export interface PadOptions {
  /** How long "thank you" stays up. */
  thanksMs: number; // milliseconds
  /** How long a notice stays up. */
  noticeMs: number; // milliseconds
  /** The shortest service a window gives: a rating without a request needs this long since the pad's last rating. */
  minServiceMs: number; // milliseconds
}
export const PAD_DEFAULTS: PadOptions = { thanksMs: 4_000, noticeMs: 5_000, minServiceMs: 60_000 };

export const PAD_TEXT = {
  full: '评价暂时无法保存，请到服务台评价',
  unsolicited: '请在业务办理结束后评价',
  rated: '本次服务已评价，谢谢',
  stuck: '按键故障，请联系工作人员',
} as const;

export type PadState = 'idle' | 'rate' | 'reason' | 'thanks' | 'notice';

/** A rating request the pad holds, with its deadline on the hub-corrected clock. */
interface Request {
  req: string;
  ticket: string;
  staff: string | null;
  item: string | null;
  until: number;
}

/** A rating being taken: the level is chosen, the reason may still be asked. */
interface Draft {
  level: RatingLevel;
  request: Request | null;
}

export type RequestOutcome = 'shown' | 'queued' | 'duplicate' | 'expired' | 'wrong-window';

export interface PadCounters {
  requests: number;
  ratings: number;
  badRatings: number;
  /** Ratings the outbox could not take (flash full): the citizen was sent to the desk. */
  refusedFull: number;
  /** Presses after a rating was taken, while "thank you" was up. */
  ignoredAfterRating: number;
  /** Presses with no request pending, online, under the 'ignore' policy. */
  unsolicitedIgnored: number;
  /** Ratings without a request refused because the last rating was less than minServiceMs ago. */
  tooSoon: number;
  /** Requests that timed out unrated. */
  expired: number;
  /** Bad ratings sent with reason 'other' because no reason was chosen in time. */
  reasonTimeouts: number;
  /** Requests replaced by a newer one before being rated. */
  superseded: number;
  /** Requests that were repeats, stale, or for another window. */
  ignoredRequests: number;
}

const RECENT_REQS = 8;

export class RatingPad {
  readonly counters: PadCounters = {
    requests: 0, ratings: 0, badRatings: 0, refusedFull: 0, ignoredAfterRating: 0, unsolicitedIgnored: 0, tooSoon: 0,
    expired: 0, reasonTimeouts: 0, superseded: 0, ignoredRequests: 0,
  };
  private readonly options: PadOptions;
  private stateName: PadState = 'idle';
  private current: Request | undefined;
  /** A request that arrived while the previous citizen was still choosing a reason or being thanked. */
  private next: Request | undefined;
  private draft: Draft | undefined;
  private readonly timer: OneShot;
  private view: View | undefined;
  /** Requests already rated (or already seen), so a resent rateReq does not ask again. */
  private readonly recent: string[] = [];
  /** Hub-corrected time of the last rating taken, for the one-per-service limit on ratings without a request. */
  private lastRatingAt = -Infinity;

  constructor(private readonly deps: PadDeps, private settings: PadSettings, options: Partial<PadOptions> = {}) {
    this.options = { ...PAD_DEFAULTS, ...options };
    this.timer = new OneShot(deps.timers);
  }

  get state(): PadState {
    return this.stateName;
  }

  /** The request currently shown or held, for the simulator's view. */
  get pending(): Readonly<Request> | undefined {
    return this.current;
  }

  /** Shows the first view. */
  start(): void {
    this.toRest();
  }

  stop(): void {
    this.clearTimer();
  }

  /** New settings from the hub's config command; takes effect from the next state. */
  configure(settings: Partial<PadSettings>): void {
    this.settings = { ...this.settings, ...settings };
    if (this.stateName === 'idle') this.showIdle();
  }

  /** The link came up or went down: the views that show it are drawn again. */
  linkChanged(): void {
    if (this.stateName === 'idle') this.showIdle();
    else if (this.stateName === 'rate' && this.current) this.showRate(this.current, false);
    else if (this.stateName === 'notice' && this.view && this.view.screen === 'notice') this.render({ ...this.view, online: this.deps.online() });
  }

  /** The hub's rateReq for the ticket just served here; `sentAt` is the command's hub time. */
  request(body: CommandBodies['rateReq'], sentAt: number): RequestOutcome {
    if (body.win !== this.settings.win) {
      this.counters.ignoredRequests++;
      return 'wrong-window';
    }
    const ttl = body.expires - sentAt;
    if (ttl <= 0) {
      this.counters.ignoredRequests++;
      return 'expired';
    }
    if (this.recent.indexOf(body.req) >= 0 || this.current?.req === body.req || this.next?.req === body.req) {
      this.counters.ignoredRequests++;
      return 'duplicate';
    }
    this.remember(body.req);
    this.counters.requests++;
    const request: Request = { req: body.req, ticket: body.ticket, staff: body.staff, item: body.item, until: this.deps.now() + ttl };
    if (this.stateName === 'reason' || this.stateName === 'thanks') {
      // Let the citizen before finish; this one is shown right after.
      if (this.next) this.counters.superseded++;
      this.next = request;
      return 'queued';
    }
    if (this.current) this.counters.superseded++;
    this.current = request;
    this.showRate(request, true);
    return 'shown';
  }

  /** One accepted (debounced) key press, index 0..4. */
  press(index: number): void {
    if (!(index >= 0 && index < 5)) return;
    switch (this.stateName) {
      case 'thanks':
        this.counters.ignoredAfterRating++;
        return;
      case 'reason':
        this.finish(BAD_RATING_REASONS[index]);
        return;
    }
    // rate, or a notice shown while a request is still open (e.g. after a full flash).
    if (this.current) {
      if (this.valid(this.current)) {
        this.take((5 - index) as RatingLevel, this.current);
        return;
      }
      this.current = undefined;
    }
    // No request pending.
    if (!this.deps.online() || this.settings.unsolicited === 'bind') {
      if (this.deps.now() - this.lastRatingAt < this.options.minServiceMs) {
        this.counters.tooSoon++;
        this.notice(PAD_TEXT.rated);
        return;
      }
      this.take((5 - index) as RatingLevel, null);
      return;
    }
    this.counters.unsolicitedIgnored++;
    this.notice(PAD_TEXT.unsolicited);
  }

  /** A key has been held down too long: tell whoever is standing there. */
  keyStuck(_index: number): void {
    if (this.stateName === 'reason' || this.stateName === 'thanks') return; // do not break a rating in progress
    this.notice(PAD_TEXT.stuck);
  }

  // ------------------------------------------------------------ states

  private take(level: RatingLevel, request: Request | null): void {
    this.draft = { level, request };
    if (level <= BAD_RATING_MAX) {
      this.enter('reason');
      this.render({ screen: 'reason', level, ticket: request ? request.ticket : null });
      this.deps.sound.play('click');
      this.arm(this.settings.rateTimeout, () => {
        this.counters.reasonTimeouts++;
        this.finish('other');
      });
      return;
    }
    this.finish(null);
  }

  private finish(reason: BadRatingReason | null): void {
    const draft = this.draft;
    this.draft = undefined;
    if (!draft) {
      this.toRest();
      return;
    }
    const request = draft.request;
    const result = this.deps.emit('rating', {
      win: this.settings.win,
      ticket: request ? request.ticket : null,
      req: request ? request.req : null,
      level: draft.level,
      reason,
      offline: !this.deps.online(),
    });
    if (!result.ok) {
      // Nothing was stored: say so. The request stays, so the citizen may try again.
      this.counters.refusedFull++;
      this.notice(PAD_TEXT.full);
      return;
    }
    this.counters.ratings++;
    this.lastRatingAt = this.deps.now();
    if (draft.level <= BAD_RATING_MAX) this.counters.badRatings++;
    if (request) {
      this.remember(request.req);
      if (this.current === request) this.current = undefined;
    }
    this.enter('thanks');
    this.render({ screen: 'thanks', level: draft.level, reason });
    this.deps.sound.play('thanks');
    this.arm(this.options.thanksMs, () => this.toRest());
  }

  private notice(text: string): void {
    this.draft = undefined;
    this.enter('notice');
    this.render({ screen: 'notice', text, online: this.deps.online() });
    this.deps.sound.play('error');
    this.arm(this.options.noticeMs, () => this.toRest());
  }

  /** Back to whatever is waiting: a queued request, the current one, or idle. */
  private toRest(): void {
    if (this.next) {
      const next = this.next;
      this.next = undefined;
      if (this.valid(next)) {
        this.current = next;
        this.showRate(next, true);
        return;
      }
      this.counters.expired++;
    }
    if (this.current) {
      if (this.valid(this.current)) {
        this.showRate(this.current, false);
        return;
      }
      this.counters.expired++;
      this.current = undefined;
    }
    this.enter('idle');
    this.showIdle();
  }

  private showRate(request: Request, fresh: boolean): void {
    this.enter('rate');
    this.render({ screen: 'rate', ticket: request.ticket, staff: request.staff, item: request.item, online: this.deps.online() });
    if (fresh) this.deps.sound.play('chime');
    const left = request.until - this.deps.now();
    this.arm(Math.max(0, Math.min(this.settings.rateTimeout, left)), () => {
      if (this.current === request) this.current = undefined;
      this.counters.expired++;
      this.toRest();
    });
  }

  private showIdle(): void {
    this.render({ screen: 'idle', text: this.settings.idleText, online: this.deps.online() });
  }

  // ------------------------------------------------------------ helpers

  private valid(request: Request): boolean {
    return this.deps.now() < request.until;
  }

  private remember(req: string): void {
    if (this.recent.indexOf(req) >= 0) return;
    this.recent.push(req);
    if (this.recent.length > RECENT_REQS) this.recent.shift();
  }

  private enter(state: PadState): void {
    this.clearTimer();
    this.stateName = state;
  }

  private render(view: View): void {
    this.view = view;
    this.deps.display.render(view);
  }

  private arm(ms: number, callback: () => void): void {
    this.timer.arm(ms, callback);
  }

  private clearTimer(): void {
    this.timer.clear();
  }
}
