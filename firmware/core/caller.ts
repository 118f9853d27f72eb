/**
 * WindowCaller: the window display with its five staff keys.
 *
 * The display shows what the hub's `display` command says — the window's current ticket in large
 * digits, its status, the service item and how many are waiting — and chimes when told to. The
 * queue lives in the hub, so the keys only ask: each press emits an event (via the Device's
 * `emit` port, durably into the outbox) and the hub answers with the next `display` command.
 *
 * Keys, index 0..4:
 *   0 叫号 next      emit `call`; ignored with a notice while the previous call is unanswered
 *   1 重呼 recall    emit `recall` of the current ticket
 *   2 过号 no-show   emit `noShow` of the current ticket
 *   3 转移 transfer  pick a target: the first press shows the first configured target, each
 *                    further press the next one (cycling); 叫号 confirms and emits `transfer`;
 *                    any other key, or `transferMs` without a press, cancels. Targets are
 *                    windows or service items set per window (DeviceOptions.transferTargets),
 *                    since staff at a hall transfer to the same few places; without any, the
 *                    key says to transfer from the staff screen.
 *   4 暂停/恢复 pause/resume toggle
 *
 * Offline, the view says so, and next/recall/no-show/transfer are refused with a notice and the
 * error tone — calling a ticket nobody issued would send a citizen to the wrong counter. Pause and
 * resume are still taken: they wait in the outbox and reach the hub when the link returns.
 */

import type { Display, Sound, TimerId, Timers, View } from './hardware.js';
import { OneShot } from './one-shot.js';
import type { CommandBodies } from './protocol.js';
import type { Emit, EmitResult } from './pad.js';

/** Where the transfer key sends a ticket: exactly one of toWin and toItem. */
export interface TransferTarget {
  toWin: string | null;
  toItem: string | null;
  /** What the display shows for it, e.g. "3号窗口" or "社保业务". */
  label: string;
}

export interface CallerSettings {
  win: string;
  transferTargets: TransferTarget[];
}

export interface CallerDeps {
  display: Display;
  sound: Sound;
  timers: Timers;
  emit: Emit;
  online(): boolean;
}

export interface CallerOptions {
  noticeMs: number; // milliseconds a notice stays up
  transferMs: number; // milliseconds the transfer choice waits for a confirmation
  /** After `call`, further `call` presses are refused this long unless a display update comes first. */
  callGuardMs: number; // milliseconds
}
export const CALLER_DEFAULTS: CallerOptions = { noticeMs: 3_000, transferMs: 10_000, callGuardMs: 5_000 };

export const CALLER_KEYS = { next: 0, recall: 1, noShow: 2, transfer: 3, pause: 4 } as const;

export const CALLER_TEXT = {
  offline: '网络断开，暂不能叫号',
  offlineBanner: '离线',
  full: '存储已满，操作未记录，请联系管理员',
  noTicket: '当前没有可操作的号',
  calling: '正在呼叫…',
  callPending: '正在呼叫，请稍候',
  paused: '暂停服务',
  pauseQueued: '暂停已记录，联网后发送',
  resumeQueued: '恢复已记录，联网后发送',
  pausedRefuse: '暂停中，请先恢复服务',
  noTargets: '未设置转移目标，请在工作台转移',
  sent: '已发送',
} as const;

export type CallerMode = 'window' | 'notice' | 'transfer';

export interface CallerCounters {
  calls: number; recalls: number; noShows: number; transfers: number; pauses: number; resumes: number;
  refusedOffline: number; refusedFull: number; refusedNoTicket: number; refusedPending: number;
  chimes: number; ignoredDisplays: number;
}

/** What the window shows, as the hub last said. */
interface Screen {
  ticket: string | null;
  status: string;
  item: string | null;
  waiting: number;
  text: string | null;
}

export class WindowCaller {
  readonly counters: CallerCounters = {
    calls: 0, recalls: 0, noShows: 0, transfers: 0, pauses: 0, resumes: 0,
    refusedOffline: 0, refusedFull: 0, refusedNoTicket: 0, refusedPending: 0, chimes: 0, ignoredDisplays: 0,
  };
  private readonly options: CallerOptions;
  private screen: Screen = { ticket: null, status: 'idle', item: null, waiting: 0, text: null };
  /** Local text over the hub's (e.g. "正在呼叫…") until the next display command. */
  private overlay: string | null = null;
  private pausedFlag = false;
  private modeName: CallerMode = 'window';
  private transferIndex = 0;
  private readonly timer: OneShot;
  private callPending = false;
  private callTimer: TimerId | undefined;

  constructor(private readonly deps: CallerDeps, private settings: CallerSettings, options: Partial<CallerOptions> = {}) {
    this.options = { ...CALLER_DEFAULTS, ...options };
    this.timer = new OneShot(deps.timers);
  }

  get mode(): CallerMode {
    return this.modeName;
  }

  get paused(): boolean {
    return this.pausedFlag;
  }

  get ticket(): string | null {
    return this.screen.ticket;
  }

  start(): void {
    this.showWindow();
  }

  stop(): void {
    this.clearTimer();
    if (this.callTimer !== undefined) this.deps.timers.clear(this.callTimer);
    this.callTimer = undefined;
  }

  configure(settings: Partial<CallerSettings>): void {
    this.settings = { ...this.settings, ...settings };
  }

  linkChanged(): void {
    if (this.modeName === 'window') this.showWindow();
  }

  /** The hub's display command for this window. Returns false when it was for another window. */
  display(body: CommandBodies['display']): boolean {
    if (body.win !== this.settings.win) {
      this.counters.ignoredDisplays++;
      return false;
    }
    this.screen = { ticket: body.ticket, status: body.status, item: body.item, waiting: body.waiting, text: body.text };
    this.pausedFlag = body.status === 'paused';
    this.overlay = null;
    this.callPending = false;
    if (body.chime) {
      this.counters.chimes++;
      this.deps.sound.play('chime');
    }
    if (this.modeName === 'window') this.showWindow();
    return true;
  }

  /** One accepted (debounced) key press, index 0..4. */
  press(index: number): void {
    if (this.modeName === 'transfer') {
      if (index === CALLER_KEYS.transfer) this.cycleTarget();
      else if (index === CALLER_KEYS.next) this.confirmTransfer();
      else this.cancelTransfer();
      return;
    }
    switch (index) {
      case CALLER_KEYS.next: return this.next();
      case CALLER_KEYS.recall: return this.onTicket('recall');
      case CALLER_KEYS.noShow: return this.onTicket('noShow');
      case CALLER_KEYS.transfer: return this.beginTransfer();
      case CALLER_KEYS.pause: return this.togglePause();
    }
  }

  keyStuck(index: number): void {
    this.notice(`按键${index + 1}故障，请联系管理员`);
  }

  // ------------------------------------------------------------ actions

  private next(): void {
    if (!this.requireOnline()) return;
    if (this.pausedFlag) return this.notice(CALLER_TEXT.pausedRefuse);
    if (this.callPending) {
      this.counters.refusedPending++;
      return this.notice(CALLER_TEXT.callPending);
    }
    if (!this.sent(this.deps.emit('call', { win: this.settings.win, staff: null }))) return;
    this.counters.calls++;
    this.callPending = true;
    if (this.callTimer !== undefined) this.deps.timers.clear(this.callTimer);
    this.callTimer = this.deps.timers.set(() => {
      this.callTimer = undefined;
      this.callPending = false;
      if (this.overlay === CALLER_TEXT.calling) {
        this.overlay = null;
        if (this.modeName === 'window') this.showWindow();
      }
    }, this.options.callGuardMs);
    this.done(CALLER_TEXT.calling);
  }

  private onTicket(kind: 'recall' | 'noShow'): void {
    if (!this.requireOnline()) return;
    const ticket = this.screen.ticket;
    if (ticket === null) {
      this.counters.refusedNoTicket++;
      return this.notice(CALLER_TEXT.noTicket);
    }
    if (!this.sent(this.deps.emit(kind, { win: this.settings.win, ticket }))) return;
    if (kind === 'recall') this.counters.recalls++;
    else this.counters.noShows++;
    this.done(CALLER_TEXT.sent);
  }

  private beginTransfer(): void {
    if (!this.requireOnline()) return;
    if (this.screen.ticket === null) {
      this.counters.refusedNoTicket++;
      return this.notice(CALLER_TEXT.noTicket);
    }
    if (!this.settings.transferTargets.length) return this.notice(CALLER_TEXT.noTargets);
    this.transferIndex = 0;
    this.showTransfer();
  }

  private cycleTarget(): void {
    this.transferIndex = (this.transferIndex + 1) % this.settings.transferTargets.length;
    this.showTransfer();
  }

  private confirmTransfer(): void {
    const target = this.settings.transferTargets[this.transferIndex];
    const ticket = this.screen.ticket;
    this.modeName = 'window';
    this.clearTimer();
    if (!this.requireOnline()) return;
    if (!target || ticket === null) {
      this.counters.refusedNoTicket++;
      return this.notice(CALLER_TEXT.noTicket);
    }
    if (!this.sent(this.deps.emit('transfer', { win: this.settings.win, ticket, toWin: target.toWin, toItem: target.toItem }))) return;
    this.counters.transfers++;
    this.done(`已转移至${target.label}`);
  }

  private cancelTransfer(): void {
    this.clearTimer();
    this.modeName = 'window';
    this.deps.sound.play('click');
    this.showWindow();
  }

  private togglePause(): void {
    const online = this.deps.online();
    if (this.pausedFlag) {
      if (!this.sent(this.deps.emit('resume', { win: this.settings.win }))) return;
      this.counters.resumes++;
      this.pausedFlag = false;
      if (this.screen.status === 'paused') this.screen = { ...this.screen, status: this.screen.ticket ? 'serving' : 'idle' };
      this.done(online ? CALLER_TEXT.sent : CALLER_TEXT.resumeQueued);
    } else {
      if (!this.sent(this.deps.emit('pause', { win: this.settings.win, reason: null }))) return;
      this.counters.pauses++;
      this.pausedFlag = true;
      this.screen = { ...this.screen, status: 'paused' };
      this.done(online ? CALLER_TEXT.paused : CALLER_TEXT.pauseQueued);
    }
  }

  // ------------------------------------------------------------ views

  private requireOnline(): boolean {
    if (this.deps.online()) return true;
    this.counters.refusedOffline++;
    this.notice(CALLER_TEXT.offline);
    return false;
  }

  /** Checks the outbox's answer; on refusal says so (never pretends the action happened). */
  private sent(result: EmitResult): boolean {
    if (result.ok) return true;
    this.counters.refusedFull++;
    this.notice(CALLER_TEXT.full);
    return false;
  }

  private done(overlay: string): void {
    this.overlay = overlay;
    this.deps.sound.play('ok');
    this.showWindow();
  }

  private notice(text: string): void {
    this.modeName = 'notice';
    this.deps.display.render({ screen: 'notice', text, online: this.deps.online() });
    this.deps.sound.play('error');
    this.arm(this.options.noticeMs, () => this.showWindow());
  }

  private showTransfer(): void {
    const target = this.settings.transferTargets[this.transferIndex];
    this.modeName = 'transfer';
    this.render(`转移 ${this.screen.ticket} → ${target.label}？按叫号键确认`);
    this.deps.sound.play('click');
    this.arm(this.options.transferMs, () => this.cancelTransfer());
  }

  private showWindow(): void {
    this.clearTimer();
    this.modeName = 'window';
    const online = this.deps.online();
    const text = !online ? (this.overlay ?? CALLER_TEXT.offlineBanner) : (this.overlay ?? this.screen.text);
    this.render(text);
  }

  private render(text: string | null): void {
    const view: View = {
      screen: 'window', win: this.settings.win, ticket: this.screen.ticket, status: this.pausedFlag ? 'paused' : this.screen.status,
      item: this.screen.item, waiting: this.screen.waiting, text, online: this.deps.online(),
    };
    this.deps.display.render(view);
  }

  private arm(ms: number, callback: () => void): void {
    this.timer.arm(ms, callback);
  }

  private clearTimer(): void {
    this.timer.clear();
  }
}
