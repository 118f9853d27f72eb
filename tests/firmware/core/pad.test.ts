import { Debouncer } from '../../../firmware/core/debounce.js';
import { PAD_TEXT, RatingPad, type EmitResult, type PadSettings } from '../../../firmware/core/pad.js';
import type { EventBodies, EventType } from '../../../firmware/core/protocol.js';
import { SimDisplay, SimKeys, SimSound } from '../../../simulator/hardware.js';
import { VirtualTime } from '../../../simulator/virtual-time.js';

type Emitted = { type: EventType; body: EventBodies[EventType] };

function rig(settings: Partial<PadSettings> = {}) {
  const time = new VirtualTime();
  const keys = new SimKeys(time);
  const display = new SimDisplay(64);
  const sound = new SimSound(64);
  const events: Emitted[] = [];
  const link = { online: true, full: false };
  const emit = <K extends EventType>(type: K, body: EventBodies[K]): EmitResult => {
    if (link.full) return { ok: false, reason: 'full', message: 'ratings fill the flash' };
    events.push({ type, body });
    return { ok: true };
  };
  const pad = new RatingPad(
    { display, sound, timers: time, now: () => time.now(), emit, online: () => link.online },
    { win: 'W1', rateTimeout: 30_000, unsolicited: 'ignore', idleText: '请对本次服务进行评价', ...settings },
  );
  const debouncer = new Debouncer(keys, time, time, 5, { press: (i) => pad.press(i), stuck: (i) => pad.keyStuck(i) });
  pad.start();
  /** A citizen's press: held 80 ms, then a second for the pad to answer. */
  const tap = (i: number) => {
    keys.tap(i);
    time.advance(1000);
  };
  const request = (req: string, ticket: string, ttl = 120_000) =>
    pad.request({ req, win: 'W1', ticket, staff: 'S07', item: '社保卡补办', expires: time.now() + ttl }, time.now());
  const ratings = () => events.filter((e) => e.type === 'rating').map((e) => e.body as EventBodies['rating']);
  return { time, keys, display, sound, events, link, pad, debouncer, tap, request, ratings };
}

test('starts on the idle view', () => {
  const { display, pad } = rig();
  expect(pad.state).toBe('idle');
  expect(display.last).toEqual({ screen: 'idle', text: '请对本次服务进行评价', online: true });
});

test('five tickets rated in turn, keys 0..4 giving levels 5..1, bad ones with their reasons', () => {
  const r = rig();
  const reasonKey = [undefined, undefined, undefined, 0, 4];
  for (let k = 0; k < 5; k++) {
    expect(r.request(`r${k}`, `A00${k + 1}`)).toBe('shown');
    expect(r.display.last).toMatchObject({ screen: 'rate', ticket: `A00${k + 1}`, staff: 'S07' });
    expect(r.sound.last).toBe('chime');
    r.tap(k);
    if (reasonKey[k] !== undefined) {
      expect(r.display.last).toMatchObject({ screen: 'reason', ticket: `A00${k + 1}` });
      r.tap(reasonKey[k]!);
    }
    expect(r.display.last).toMatchObject({ screen: 'thanks', level: 5 - k });
    expect(r.sound.last).toBe('thanks');
    r.time.advance(5_000);
    expect(r.pad.state).toBe('idle');
  }
  expect(r.ratings()).toEqual([
    { win: 'W1', ticket: 'A001', req: 'r0', level: 5, reason: null, offline: false },
    { win: 'W1', ticket: 'A002', req: 'r1', level: 4, reason: null, offline: false },
    { win: 'W1', ticket: 'A003', req: 'r2', level: 3, reason: null, offline: false },
    { win: 'W1', ticket: 'A004', req: 'r3', level: 2, reason: 'attitude', offline: false },
    { win: 'W1', ticket: 'A005', req: 'r4', level: 1, reason: 'other', offline: false },
  ]);
  expect(r.pad.counters.badRatings).toBe(2);
});

test('a bad rating asks a reason and stores nothing until it is given', () => {
  const r = rig();
  r.request('r1', 'B012');
  r.tap(3); // 不满意
  expect(r.pad.state).toBe('reason');
  expect(r.display.last).toEqual({ screen: 'reason', level: 2, ticket: 'B012' });
  expect(r.events).toEqual([]);
  r.tap(1); // 办理太慢
  expect(r.ratings()).toEqual([{ win: 'W1', ticket: 'B012', req: 'r1', level: 2, reason: 'slow', offline: false }]);
});

test('a bad rating whose reason is not chosen in time is sent with reason "other"', () => {
  const r = rig();
  r.request('r1', 'B013');
  r.tap(4);
  r.time.advance(29_000);
  expect(r.events).toEqual([]);
  r.time.advance(2_000);
  expect(r.ratings()).toEqual([{ win: 'W1', ticket: 'B013', req: 'r1', level: 1, reason: 'other', offline: false }]);
  expect(r.pad.counters.reasonTimeouts).toBe(1);
  expect(r.display.last).toMatchObject({ screen: 'thanks', level: 1, reason: 'other' });
});

test('a double press rates once; presses while thanking and a resent request are ignored', () => {
  const r = rig();
  r.request('r1', 'A010');
  r.keys.tap(0, 50);
  r.time.advance(300);
  r.keys.tap(0, 50); // a nervous double press, inside the repeat guard
  r.time.advance(1500);
  r.tap(2); // while "thank you" is up
  expect(r.ratings()).toHaveLength(1);
  expect(r.ratings()[0].level).toBe(5);
  expect(r.pad.counters.ignoredAfterRating).toBe(1);
  r.time.advance(5_000);
  expect(r.request('r1', 'A010')).toBe('duplicate');
  expect(r.pad.state).toBe('idle');
  r.tap(1);
  expect(r.ratings()).toHaveLength(1);
});

test('mashing several keys rates nothing; a clean press afterwards does', () => {
  const r = rig();
  r.request('r1', 'A020');
  r.keys.tap(0, 60);
  r.time.advance(30);
  r.keys.tap(4, 60);
  r.time.advance(30);
  r.keys.tap(2, 60);
  r.time.advance(1500);
  expect(r.events).toEqual([]);
  expect(r.pad.state).toBe('rate');
  expect(r.debouncer.counters.mashed).toBe(3);
  r.tap(1);
  expect(r.ratings().map((b) => b.level)).toEqual([4]);
});

test('contact bounce is filtered: one press, one rating', () => {
  const r = rig();
  r.request('r1', 'A030');
  r.keys.bounce(1, true, 9, 2, 150);
  r.time.advance(2000);
  expect(r.ratings().map((b) => b.level)).toEqual([4]);
});

test('an unanswered request goes back to idle after rateTimeout, or sooner when it expires', () => {
  const r = rig();
  r.request('r1', 'A040');
  r.time.advance(29_000);
  expect(r.pad.state).toBe('rate');
  r.time.advance(1_500);
  expect(r.pad.state).toBe('idle');
  expect(r.display.last).toMatchObject({ screen: 'idle' });
  expect(r.pad.counters.expired).toBe(1);
  r.request('r2', 'A041', 8_000); // the hub gives this one 8 s
  r.time.advance(8_100);
  expect(r.pad.state).toBe('idle');
  expect(r.pad.counters.expired).toBe(2);
  expect(r.request('r3', 'A042', 0)).toBe('expired');
  expect(r.pad.state).toBe('idle');
  expect(r.events).toEqual([]);
});

test('offline, a press is still a rating: window, offline:true, no ticket', () => {
  const r = rig();
  r.link.online = false;
  r.pad.linkChanged();
  expect(r.display.last).toEqual({ screen: 'idle', text: '请对本次服务进行评价', online: false });
  r.tap(1);
  expect(r.ratings()).toEqual([{ win: 'W1', ticket: null, req: null, level: 4, reason: null, offline: true }]);
  r.time.advance(60_000); // one rating per served interval without a request (PAD_DEFAULTS.minServiceMs)
  r.tap(3);
  r.tap(2);
  expect(r.ratings()[1]).toEqual({ win: 'W1', ticket: null, req: null, level: 2, reason: 'documents', offline: true });
});

test('offline with a request still valid, the rating names it and says offline', () => {
  const r = rig();
  r.request('r9', 'C100');
  r.link.online = false;
  r.pad.linkChanged();
  expect(r.display.last).toMatchObject({ screen: 'rate', ticket: 'C100', online: false });
  r.tap(0);
  expect(r.ratings()).toEqual([{ win: 'W1', ticket: 'C100', req: 'r9', level: 5, reason: null, offline: true }]);
});

test("unsolicited presses under 'ignore' show a notice and record nothing", () => {
  const r = rig({ unsolicited: 'ignore' });
  r.tap(0);
  expect(r.events).toEqual([]);
  expect(r.display.last).toEqual({ screen: 'notice', text: PAD_TEXT.unsolicited, online: true });
  expect(r.sound.last).toBe('error');
  expect(r.pad.counters.unsolicitedIgnored).toBe(1);
  r.time.advance(6_000);
  expect(r.pad.state).toBe('idle');
});

test("unsolicited presses under 'bind' are recorded for the hub to bind", () => {
  const r = rig({ unsolicited: 'bind' });
  r.tap(2);
  expect(r.ratings()).toEqual([{ win: 'W1', ticket: null, req: null, level: 3, reason: null, offline: false }]);
  expect(r.display.last).toMatchObject({ screen: 'thanks', level: 3 });
});

test('a full flash: a notice to rate at the desk and the error tone, never "thank you"', () => {
  const r = rig();
  r.request('r1', 'D001');
  r.link.full = true;
  r.tap(0);
  expect(r.events).toEqual([]);
  expect(r.display.last).toEqual({ screen: 'notice', text: PAD_TEXT.full, online: true });
  expect(r.sound.last).toBe('error');
  expect(r.display.history.some((v) => v.screen === 'thanks')).toBe(false);
  expect(r.pad.counters.refusedFull).toBe(1);
  // The request is still open: once there is room, the citizen can rate.
  r.time.advance(6_000);
  expect(r.display.last).toMatchObject({ screen: 'rate', ticket: 'D001' });
  r.link.full = false;
  r.tap(1);
  expect(r.ratings()).toEqual([{ win: 'W1', ticket: 'D001', req: 'r1', level: 4, reason: null, offline: false }]);
});

test('a request arriving while the previous citizen chooses a reason waits its turn', () => {
  const r = rig();
  r.request('r1', 'E001');
  r.tap(4);
  expect(r.request('r2', 'E002')).toBe('queued');
  expect(r.pad.state).toBe('reason');
  r.tap(0);
  r.time.advance(5_000);
  expect(r.display.last).toMatchObject({ screen: 'rate', ticket: 'E002' });
  r.tap(0);
  expect(r.ratings().map((b) => [b.ticket, b.level, b.reason])).toEqual([['E001', 1, 'attitude'], ['E002', 5, null]]);
});

test('a request for another window is ignored', () => {
  const r = rig();
  expect(r.pad.request({ req: 'x', win: 'W2', ticket: 'A001', staff: null, item: null, expires: r.time.now() + 60_000 }, r.time.now())).toBe('wrong-window');
  expect(r.pad.state).toBe('idle');
});

test('a stuck key is shown', () => {
  const r = rig();
  r.keys.stick(3);
  r.time.advance(11_000);
  expect(r.display.last).toEqual({ screen: 'notice', text: PAD_TEXT.stuck, online: true });
});
