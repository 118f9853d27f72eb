import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// parse-bmfont-binary is an independent reader of the format (not the writer in scripts/fonts),
// so a layout mistake in the writer shows here.
import parseBmfontBinary from 'parse-bmfont-binary';
import { FONTS, FONT_DIR, ROOT, TICKET_CHARS, PRINTABLE_ASCII, charactersFor, codePoints, firmwareStrings, hallChars, manifestStrings, stringLiterals } from '../../scripts/fonts/charset.js';
import { makeFont } from '../../scripts/fonts/make-fonts.js';
import { RATING_LABELS, BAD_RATING_REASON_LABELS, validateCommand } from '../../firmware/core/protocol.js';
import { PAD_TEXT } from '../../firmware/core/pad.js';
import { CALLER_TEXT } from '../../firmware/core/caller.js';
import { CONFIG_DEFAULTS } from '../../firmware/core/config.js';

interface Bmfont {
  info: { size: number; face: string };
  common: { lineHeight: number; base: number; scaleW: number; scaleH: number; pages: number };
  pages: string[];
  chars: { id: number; x: number; y: number; width: number; height: number; xadvance: number; page: number }[];
}

function load(name: string): Bmfont {
  return parseBmfontBinary(readFileSync(join(FONT_DIR, `${name}.fnt`))) as Bmfont;
}

/** The characters of `text` a font lacks, as "U+XXXX c" for a readable failure. */
function missing(font: Bmfont, text: string): string[] {
  const have = new Set(font.chars.map((c) => c.id));
  return codePoints(text).filter((cp) => !have.has(cp)).map((cp) => `U+${cp.toString(16).toUpperCase()} ${String.fromCodePoint(cp)}`);
}

const textFonts = FONTS.filter((f) => f.set === 'text').map((f) => ({ spec: f, font: load(f.name) }));
const numberFonts = FONTS.filter((f) => f.set === 'number').map((f) => ({ spec: f, font: load(f.name) }));

// Everything the firmware can draw as text, taken two ways: its source's string literals and the
// runtime values of its label tables (a label built at run time would be missed by the first).
const runtimeTexts = [
  ...Object.values(RATING_LABELS), ...Object.values(BAD_RATING_REASON_LABELS),
  ...Object.values(PAD_TEXT), ...Object.values(CALLER_TEXT), CONFIG_DEFAULTS.idleText,
];

describe('device fonts hold every glyph the firmware can draw', () => {
  test.each(textFonts.map((f) => [f.spec.name, f.font] as const))('%s: every firmware string literal', (_name, font) => {
    const gaps = firmwareStrings().flatMap(({ file, text }) => {
      const lacks = missing(font, text);
      return lacks.length ? [`${file.slice(ROOT.length)}: ${JSON.stringify(text)} lacks ${lacks.join(', ')}`] : [];
    });
    expect(gaps).toEqual([]);
  });

  test.each(textFonts.map((f) => [f.spec.name, f.font] as const))('%s: label tables, manifest texts, hall characters, ASCII', (_name, font) => {
    expect(missing(font, runtimeTexts.join(''))).toEqual([]);
    expect(missing(font, manifestStrings().join(''))).toEqual([]);
    expect(missing(font, hallChars())).toEqual([]);
    // window ids and ticket numbers appear in labels too ("A042 号")
    expect(missing(font, PRINTABLE_ASCII)).toEqual([]);
  });

  test.each(numberFonts.map((f) => [f.spec.name, f.font] as const))('%s: every ticket character the protocol accepts, and ---', (_name, font) => {
    // The protocol decides what a ticket can hold: probe it with each printable character.
    const display = (ticket: string) => ({ v: 1, dev: 'd1', t: 1, type: 'display', body: { win: 'w01', ticket, status: 'called', item: null, waiting: 0, text: null, chime: false } });
    const accepted = [...PRINTABLE_ASCII].filter((c) => validateCommand(display(`A${c}1`)) === undefined).join('');
    expect(accepted.length).toBeGreaterThan(60);
    expect(accepted).toBe([...TICKET_CHARS].sort().join(''));
    expect(missing(font, accepted + '---')).toEqual([]);
    // Defect 1 of issue 16: the old number font dropped the letters of A001.
    expect(missing(font, 'A001Z999B-12')).toEqual([]);
  });

  test('a glyph the fonts lack is reported, so the checks above can fail', () => {
    const [{ font }] = textFonts;
    expect(missing(font, '请到本窗口办理')).toEqual([]);
    expect(missing(font, '龘窗')).toEqual(['U+9F98 龘']);
  });

  test('the string collector reads literals and template text, not comments or regexes', () => {
    const found = stringLiterals([
      "// '注释' is a comment",
      "/* '块注释' */ const a = '单引号', b = \"双引号\";",
      'const t = `${win} 号窗口 ${`内${x}层`} 尾`;',
      "const r = /^[A-Z'\"]+$/.test(s) ? 1 : 2 / 3; const d = 'after';",
    ].join('\n'));
    expect(found).toEqual(['单引号', '双引号', '', ' 号窗口 ', '内', '层', ' 尾', 'after']);
    const texts = firmwareStrings().map((s) => s.text);
    expect(texts).toContain('请到本窗口办理');
    expect(texts).toContain(' 号窗口');
    expect(texts).toContain('已转移至');
  });
});

describe('font files as Commodetto reads them', () => {
  test.each(FONTS.map((f) => [f.name, f] as const))('%s: one page, ascending codes, sizes that fit a line', (name, spec) => {
    const font = load(name);
    expect(font.info.size).toBe(spec.size);
    expect(font.common.pages).toBe(1);
    expect(font.pages).toEqual([`${name}.png`]);
    const ids = font.chars.map((c) => c.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(charactersFor(spec.set));
    // A CJK line is about 1.15 em; Noto's own box (1.45 em) would not fit 8 lines on 320 px.
    expect(font.common.lineHeight).toBeLessThanOrEqual(Math.ceil(spec.size * 1.2));
    for (const c of font.chars) {
      expect(c.x + c.width).toBeLessThanOrEqual(font.common.scaleW);
      expect(c.y + c.height).toBeLessThanOrEqual(font.common.scaleH);
    }
    // the page is a PNG of the size the .fnt names
    const png = readFileSync(join(FONT_DIR, `${name}.png`));
    expect(png.readUInt32BE(16)).toBe(font.common.scaleW);
    expect(png.readUInt32BE(20)).toBe(font.common.scaleH);
  });

  test('the committed number font is what the script makes from Noto Sans CJK now', () => {
    // Deterministic output: a changed rasterizer, metrics or writer shows here (fonts-noto-cjk
    // is in scripts/install-system.sh). Only the 63-glyph font: the text fonts take ~25 s under
    // jest; `npx tsx scripts/fonts/make-fonts.ts --check` compares all three in ~12 s.
    for (const spec of FONTS.filter((f) => f.set === 'number')) {
      const made = makeFont(spec);
      expect({ name: spec.name, missing: made.missing }).toEqual({ name: spec.name, missing: [] });
      expect({ name: spec.name, fnt: made.fnt.equals(readFileSync(join(FONT_DIR, `${spec.name}.fnt`))) }).toEqual({ name: spec.name, fnt: true });
      expect({ name: spec.name, png: made.png.equals(readFileSync(join(FONT_DIR, `${spec.name}.png`))) }).toEqual({ name: spec.name, png: true });
    }
  });

  test('the manifest builds these fonts and the firmware is configured to draw with them', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'manifest.json'), 'utf8'));
    const masks: string[] = manifest.resources['*-mask'];
    for (const spec of FONTS) expect(masks).toContain(`./firmware/moddable/fonts/${spec.name}`);
    const fonts = manifest.config.sannuo.fonts as Record<string, string>;
    const names = FONTS.map((f) => f.name);
    expect(names).toContain(fonts.number);
    expect(names).toContain(fonts.label);
    expect(names).toContain(fonts.small);
    expect(FONTS.find((f) => f.name === fonts.number)!.set).toBe('number');
    expect(FONTS.find((f) => f.name === fonts.label)!.set).toBe('text');
    expect(FONTS.find((f) => f.name === fonts.small)!.set).toBe('text');
  });
});
