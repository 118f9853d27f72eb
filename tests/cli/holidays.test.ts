/** `sannuo holidays`: the update check the README gives after `npm update chinese-days`. */

import { main } from '../../cli/sannuo.js';

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s) => { out += String(s); return true; });
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s) => { err += String(s); return true; });
  try {
    return { code: await main(['node', 'sannuo', 'holidays', ...args]), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

test('lists a covered year from the notice and marks 2027 provisional', async () => {
  const r = await run('2026', '2027', '--json');
  expect(r.code).toBe(0);
  const cal = JSON.parse(r.out);
  expect(cal.covered).toEqual([2026]);
  expect(cal.provisional).toEqual([2027]);
  expect(cal.makeupWorkdays).toContain('2026-02-28');
  const text = await run('2027');
  expect(text.out).toContain('2027 (provisional)');
  expect(text.out).toContain('2027-02-05 2027-02-06 2027-02-07 2027-02-08 2027-02-09 2027-02-10');
});

test('a bad year is refused with exit code 2 and the reason', async () => {
  const r = await run('27');
  expect(r.code).toBe(2);
  expect(r.err).toBe('sannuo: year: expected YYYY, got "27"\n');
});
