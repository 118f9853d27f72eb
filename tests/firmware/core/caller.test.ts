import { CALLER_KEYS, CALLER_TEXT, WindowCaller, type TransferTarget } from '../../../firmware/core/caller.js';
import { Debouncer } from '../../../firmware/core/debounce.js';
import type { EmitResult } from '../../../firmware/core/pad.js';
import type { CommandBodies, EventBodies, EventType } from '../../../firmware/core/protocol.js';
import { SimDisplay, SimKeys, SimSound } from '../../../simulator/hardware.js';
import { VirtualTime } from '../../../simulator/virtual-time.js';

const TARGETS: TransferTarget[] = [
  { toWin: 'W3', toItem: null, label: '3号窗口' },
  { toWin: null, toItem: 'tax-01', label: '税务业务' },
];

function rig(targets = TARGETS) {
  const time = new VirtualTime();
  const keys = new SimKeys(time);
  const display = new SimDisplay(64);
  const sound = new SimSound(64);
  const events: { type: EventType; body: unknown }[] = [];
  const link = { online: true, full: false };
  const emit = <K extends EventType>(type: K, body: EventBodies[K]): EmitResult => {
    if (link.full) return { ok: false, reason: 'full', message: 'ratings fill the flash' };
    events.push({ type, body });
    return { ok: true };
  };
  const caller = new WindowCaller({ display, sound, timers: time, emit, online: () => link.online }, { win: 'W1', transferTargets: targets });
  new Debouncer(keys, time, time, 5, { press: (i) => caller.press(i), stuck: (i) => caller.keyStuck(i) });
  caller.start();
  const tap = (i: number) => {
    keys.tap(i);
    time.advance(1000);
  };
  const show = (body: Partial<CommandBodies['display']>) =>
    caller.display({ win: 'W1', ticket: 'A042', status: 'called', item: '社保卡补办', waiting: 7, text: null, chime: false, ...body });
  const goOffline = () => {
    link.online = false;
    caller.linkChanged();
  };
  return { time, keys, display, sound, events, link, caller, tap, show, goOffline };
}

test('the window view shows what the hub sent, in the window screen', () => {
  const r = rig();
  r.show({ ticket: 'A042', waiting: 7 });
  expect(r.display.last).toEqual({ screen: 'window', win: 'W1', ticket: 'A042', status: 'called', item: '社保卡补办', waiting: 7, text: null, online: true });
  expect(r.show({ win: 'W9' })).toBe(false);
  expect(r.caller.counters.ignoredDisplays).toBe(1);
});

test('every staff key emits its event', () => {
  const r = rig();
  r.tap(CALLER_KEYS.next);
  expect(r.events.pop()).toEqual({ type: 'call', body: { win: 'W1', staff: null } });
  expect(r.sound.last).toBe('ok');
  expect(r.display.last).toMatchObject({ screen: 'window', text: CALLER_TEXT.calling });
  r.show({ ticket: 'A042', chime: true });
  r.tap(CALLER_KEYS.recall);
  expect(r.events.pop()).toEqual({ type: 'recall', body: { win: 'W1', ticket: 'A042' } });
  r.tap(CALLER_KEYS.noShow);
  expect(r.events.pop()).toEqual({ type: 'noShow', body: { win: 'W1', ticket: 'A042' } });

  // Transfer: choose with the transfer key, confirm with next.
  r.tap(CALLER_KEYS.transfer);
  expect(r.caller.mode).toBe('transfer');
  expect((r.display.last as { text: string }).text).toContain('3号窗口');
  r.tap(CALLER_KEYS.transfer);
  expect((r.display.last as { text: string }).text).toContain('税务业务');
  expect(r.events).toEqual([]);
  r.tap(CALLER_KEYS.next);
  expect(r.events.pop()).toEqual({ type: 'transfer', body: { win: 'W1', ticket: 'A042', toWin: null, toItem: 'tax-01' } });
  expect(r.caller.mode).toBe('window');

  r.tap(CALLER_KEYS.pause);
  expect(r.events.pop()).toEqual({ type: 'pause', body: { win: 'W1', reason: null } });
  expect(r.display.last).toMatchObject({ status: 'paused' });
  r.tap(CALLER_KEYS.pause);
  expect(r.events.pop()).toEqual({ type: 'resume', body: { win: 'W1' } });
  expect(r.caller.counters).toMatchObject({ calls: 1, recalls: 1, noShows: 1, transfers: 1, pauses: 1, resumes: 1 });
});

test('the transfer choice cycles through the targets and is cancelled by another key or by waiting', () => {
  const r = rig();
  r.show({});
  r.tap(CALLER_KEYS.transfer);
  r.tap(CALLER_KEYS.transfer);
  r.tap(CALLER_KEYS.transfer); // back to the first
  expect((r.display.last as { text: string }).text).toContain('3号窗口');
  r.tap(CALLER_KEYS.recall); // cancels, does not recall
  expect(r.caller.mode).toBe('window');
  r.tap(CALLER_KEYS.transfer);
  r.time.advance(11_000);
  expect(r.caller.mode).toBe('window');
  expect(r.events).toEqual([]);
});

test('without configured targets the transfer key says where to transfer instead', () => {
  const r = rig([]);
  r.show({});
  r.tap(CALLER_KEYS.transfer);
  expect(r.display.last).toEqual({ screen: 'notice', text: CALLER_TEXT.noTargets, online: true });
  expect(r.events).toEqual([]);
});

test('recall and no-show need a current ticket', () => {
  const r = rig();
  r.show({ ticket: null, status: 'idle' });
  r.tap(CALLER_KEYS.recall);
  r.tap(CALLER_KEYS.noShow);
  expect(r.events).toEqual([]);
  expect(r.caller.counters.refusedNoTicket).toBe(2);
  expect(r.display.last).toMatchObject({ screen: 'notice', text: CALLER_TEXT.noTicket });
});

test('a second next before the hub answered the first is refused, not sent twice', () => {
  const r = rig();
  r.tap(CALLER_KEYS.next);
  r.tap(CALLER_KEYS.next);
  expect(r.events.filter((e) => e.type === 'call')).toHaveLength(1);
  expect(r.caller.counters.refusedPending).toBe(1);
  r.show({ ticket: 'A043' });
  r.tap(CALLER_KEYS.next);
  expect(r.events.filter((e) => e.type === 'call')).toHaveLength(2);
});

test('offline: the view says so, next/recall/no-show/transfer are refused, pause is kept', () => {
  const r = rig();
  r.show({ ticket: 'A042' });
  r.goOffline();
  expect(r.display.last).toMatchObject({ screen: 'window', online: false, text: CALLER_TEXT.offlineBanner });
  for (const key of [CALLER_KEYS.next, CALLER_KEYS.recall, CALLER_KEYS.noShow, CALLER_KEYS.transfer]) {
    const errors = r.sound.counts.error;
    r.tap(key);
    expect(r.display.last).toEqual({ screen: 'notice', text: CALLER_TEXT.offline, online: false });
    expect(r.sound.counts.error).toBe(errors + 1);
  }
  expect(r.events).toEqual([]);
  expect(r.caller.counters.refusedOffline).toBe(4);
  r.tap(CALLER_KEYS.pause);
  expect(r.events).toEqual([{ type: 'pause', body: { win: 'W1', reason: null } }]);
  expect(r.display.last).toMatchObject({ screen: 'window', status: 'paused', text: CALLER_TEXT.pauseQueued, online: false });
});

test('a chime on each display command that asks for one', () => {
  const r = rig();
  r.show({ chime: true });
  r.show({ chime: false, waiting: 6 });
  r.show({ ticket: 'A043', chime: true });
  expect(r.sound.counts.chime).toBe(2);
  expect(r.caller.counters.chimes).toBe(2);
});

test('a full outbox: the action is refused with a notice, nothing pretended', () => {
  const r = rig();
  r.show({});
  r.link.full = true;
  r.tap(CALLER_KEYS.next);
  r.tap(CALLER_KEYS.pause);
  expect(r.events).toEqual([]);
  expect(r.display.last).toEqual({ screen: 'notice', text: CALLER_TEXT.full, online: true });
  expect(r.caller.paused).toBe(false);
  expect(r.caller.counters).toMatchObject({ calls: 0, pauses: 0, refusedFull: 2 });
});

test('next is refused while paused', () => {
  const r = rig();
  r.show({ status: 'paused', ticket: null });
  r.tap(CALLER_KEYS.next);
  expect(r.events).toEqual([]);
  expect(r.display.last).toMatchObject({ screen: 'notice', text: CALLER_TEXT.pausedRefuse });
});
