/**
 * Every string a citizen or staff member can see has its Chinese: each key the dashboard's
 * scripts ask for exists in the Chinese dictionary, the two dictionaries hold the same keys,
 * each Chinese text has Chinese in it, and the pads' reason codes each have a Chinese label.
 * The dictionaries are the dashboard's own files (hub/web/static/js), read as the browser reads them.
 */

import fs from 'node:fs';
import path from 'node:path';
import { BAD_RATING_REASONS, BAD_RATING_REASON_LABELS } from '../../../firmware/core/protocol.js';

const STATIC = path.join(__dirname, '../../../hub/web/static/js');
// Chinese texts that are rightly not Chinese: the switch to English is named in English.
const NOT_CHINESE = new Set(['lang.switch']);
const CJK = /[\u3400-\u9fff]/;

let DICTS: Record<'zh' | 'en', Record<string, string>>;

beforeAll(() => {
  // i18n.js reads the chosen language from localStorage when it loads; required (not imported) so this runs first.
  (globalThis as any).localStorage = { getItem: () => null, setItem: () => undefined };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  DICTS = require('../../../hub/web/static/js/i18n.js').DICTS;
  require('../../../hub/web/static/js/admin-i18n.js');
});

function scripts(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? scripts(path.join(dir, e.name)) : e.name.endsWith('.js') ? [path.join(dir, e.name)] : []));
}

test('every key a script asks for with t(\'…\') has a Chinese text', () => {
  const missing: string[] = [];
  let asked = 0;
  for (const file of scripts(STATIC)) {
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/\bt\(\s*'([A-Za-z0-9_.\-]+)'/g)) {
      asked++;
      if (!(m[1] in DICTS.zh)) missing.push(`${path.relative(STATIC, file)}: ${m[1]}`);
    }
  }
  expect(asked).toBeGreaterThan(200);
  expect(missing).toEqual([]);
});

test('both languages hold the same keys, and every Chinese text is Chinese', () => {
  expect(Object.keys(DICTS.en).filter((k) => !(k in DICTS.zh))).toEqual([]);
  expect(Object.keys(DICTS.zh).filter((k) => !(k in DICTS.en))).toEqual([]);
  expect(Object.entries(DICTS.zh).filter(([k, v]) => !NOT_CHINESE.has(k) && !CJK.test(v)).map(([k]) => k)).toEqual([]);
});

test('each reason code of the pads, each rating level and each case step has a Chinese label', () => {
  for (const r of BAD_RATING_REASONS) {
    expect(DICTS.zh[`reason.${r}`]).toMatch(CJK);
    expect(BAD_RATING_REASON_LABELS[r]).toMatch(CJK);
  }
  for (const l of [1, 2, 3, 4, 5]) expect(DICTS.zh[`rating.${l}`]).toMatch(CJK);
  for (const s of ['callback', 'rectification', 'feedback', 'review', 'closed', 'appeal', 'appeal-upheld', 'appeal-rejected', 'reopened', 'callback-failed']) expect(DICTS.zh[`stage.${s}`]).toMatch(CJK);
  expect(DICTS.zh['dev.mains']).toBe('市电');
});
