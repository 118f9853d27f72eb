import { SeqMarks } from '../../../hub/ingest/event-marks.js';

const decided = (m: SeqMarks, upTo: number) => Array.from({ length: upTo }, (_, i) => i + 1).filter((q) => m.has(q));

test('in-order seqs stay one number, with no gaps', () => {
  const m = new SeqMarks();
  for (let q = 1; q <= 100; q++) {
    expect(m.has(q)).toBe(false);
    m.add(q);
  }
  expect([m.highest, m.gapText()]).toEqual([100, '']);
  expect(m.has(1) && m.has(100) && !m.has(101)).toBe(true);
});

test('a skipped seq is a gap until it arrives; late ones split and close their gap', () => {
  const m = new SeqMarks();
  for (const q of [1, 2, 6, 9]) m.add(q);
  expect(m.gapText()).toBe('3-5,7-8');
  expect(decided(m, 10)).toEqual([1, 2, 6, 9]);
  m.add(4);
  expect(m.gapText()).toBe('3-3,5-5,7-8');
  for (const q of [3, 5, 8, 7]) m.add(q);
  expect([m.highest, m.gapText()]).toEqual([9, '']);
  expect(decided(m, 10)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('adding a decided seq changes nothing; only real changes mark the row for saving', () => {
  const m = new SeqMarks(5, '2-3');
  m.add(4);
  m.add(1);
  expect(m.changed).toBe(false);
  m.add(2);
  expect([m.changed, m.gapText()]).toEqual([true, '3-3']);
});

test('a huge jump is one range, not a list', () => {
  const m = new SeqMarks();
  m.add(1_000_000_000);
  expect(m.gapText()).toBe('1-999999999');
  expect(m.has(500_000_000)).toBe(false);
});

test('a damaged gaps column is an error naming the device and boot', () => {
  expect(() => new SeqMarks(9, '3-x', '(pad-1, boot 2)')).toThrow(/event_marks \(pad-1, boot 2\): bad gap "3-x"/);
  expect(() => new SeqMarks(9, '5-2', '(pad-1, boot 2)')).toThrow(/bad gap "5-2"/);
});
