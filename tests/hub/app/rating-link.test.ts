/**
 * hub/app/rating-link.ts: the absolute link and its QR code, decoded back with jsqr (a real
 * reader), so the printed image says the link and nothing else; clause numbers as numbers.
 */

import { PNG } from 'pngjs';
import * as jsqrModule from 'jsqr';
import { ratingLink, ratingQrPng, ratingQrSvg } from '../../../hub/app/rating-link.js';

// jsqr is CommonJS with a default export: its function sits one or two .default deep, by loader.
type JsQr = (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;
const jsqrAny = jsqrModule as unknown as { default?: JsQr | { default?: JsQr } };
// The dashboard's own script (plain JavaScript, no types), as the browser runs it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { byClause, clauseNumber } = require('../../../hub/web/static/js/clause.js') as { byClause: (a: string, b: string) => number; clauseNumber: (c: string) => number };
const jsQR: JsQr = typeof jsqrAny.default === 'function' ? jsqrAny.default : (jsqrAny.default as { default: JsQr }).default;

test('the link is absolute, whatever the trailing slash, and a relative base is refused', () => {
  expect(ratingLink('https://hall.example.cn/', 'T1.abc')).toBe('https://hall.example.cn/r/T1.abc');
  expect(ratingLink('http://10.0.0.5:8080', 'T1.abc')).toBe('http://10.0.0.5:8080/r/T1.abc');
  expect(() => ratingLink('', 'T1.abc')).toThrow(/publicUrl: expected an absolute/);
  expect(() => ratingLink('/hall', 'T1.abc')).toThrow(/publicUrl/);
});

test('the PNG decodes to the link; the SVG is an SVG', async () => {
  const link = ratingLink('https://hall.example.cn', '2026-12-03-A042.Zm9vYmFyYmF6cXV4cXV1eA');
  const png = PNG.sync.read(await ratingQrPng(link));
  expect(png.width).toBe(240);
  expect(jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data).toBe(link);
  expect(await ratingQrSvg(link)).toMatch(/^<svg[^>]*viewBox/);
});

test('clause numbers sort as numbers: 第二条 before 第三条, 第十条 after 第九条', () => {
  expect(['第十条', '第三条', '第二条', '第十二条', '第九条', '第一百零一条', '第二十条'].sort(byClause))
    .toEqual(['第二条', '第三条', '第九条', '第十条', '第十二条', '第二十条', '第一百零一条']);
  expect(clauseNumber('第12条')).toBe(12);
  expect(clauseNumber('第十条')).toBe(10);
  expect(clauseNumber('附则')).toBe(Infinity);
});
