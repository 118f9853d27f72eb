/**
 * Makes the device fonts: BMFont binary (.fnt, version 3) + one alpha-bitmap page (.png), the
 * pair Moddable's mcconfig turns into a compressed Commodetto font (`*-mask` resources → .bf4)
 * for Piu. Glyphs are cut from Noto Sans CJK (Debian fonts-noto-cjk) with fontkit and rasterized
 * by resvg (anti-aliased, 8-bit coverage); pngjs writes the page.
 *
 *   npx tsx scripts/fonts/make-fonts.ts            # writes firmware/moddable/fonts/*.fnt|png
 *   npx tsx scripts/fonts/make-fonts.ts --check    # exits 1 if the committed files are stale
 *
 * The output is deterministic (same font file and strings → same bytes), so --check can
 * compare. The character sets come from scripts/fonts/charset.ts.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as fontkit from 'fontkit';
import { Resvg } from '@resvg/resvg-js';
import { PNG } from 'pngjs';
import { FONTS, FONT_DIR, charactersFor, type FontSpec } from './charset.js';

export const NOTO_DIR = process.env.NOTO_CJK_DIR ?? '/usr/share/fonts/opentype/noto';
const COLLECTIONS: Record<FontSpec['face'], string> = {
  'NotoSansCJKsc-Regular': 'NotoSansCJK-Regular.ttc',
  'NotoSansCJKsc-Bold': 'NotoSansCJK-Bold.ttc',
};
/** Atlas page width; the height grows to fit. Commodetto keeps no atlas on the device (each
 * glyph is compressed on its own), so the page's shape only matters for the build. */
const PAGE_WIDTH = 1024;
const PADDING = 1;

interface Glyph {
  id: number; x: number; y: number; width: number; height: number;
  xoffset: number; yoffset: number; xadvance: number; alpha: Uint8Array;
}

export interface MadeFont { fnt: Buffer; png: Buffer; glyphs: number; missing: number[] }

function openFace(face: FontSpec['face']): fontkit.Font {
  const file = join(NOTO_DIR, COLLECTIONS[face]);
  const opened = fontkit.openSync(file, face) as fontkit.Font | null;
  if (!opened || !('glyphForCodePoint' in opened)) throw new Error(`${file}: no face ${face} (apt-get install fonts-noto-cjk)`);
  return opened;
}

/** One glyph's coverage, rasterized at its pixel bounding box. */
function rasterize(font: fontkit.Font, cp: number, size: number, base: number): Glyph {
  const glyph = font.glyphForCodePoint(cp);
  const scale = size / font.unitsPerEm;
  const xadvance = Math.round(glyph.advanceWidth * scale);
  const box = glyph.path.bbox;
  const empty = !Number.isFinite(box.minX) || box.maxX <= box.minX || box.maxY <= box.minY;
  if (empty) return { id: cp, x: 0, y: 0, width: 0, height: 0, xoffset: 0, yoffset: 0, xadvance, alpha: new Uint8Array(0) };
  const x0 = Math.floor(box.minX * scale);
  const x1 = Math.ceil(box.maxX * scale);
  const top = Math.ceil(box.maxY * scale);
  const bottom = Math.floor(box.minY * scale);
  const width = x1 - x0;
  const height = top - bottom;
  // Font units are y-up; the SVG is y-down with its origin at the box's top-left.
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`
    + `<path transform="translate(${-x0} ${top}) scale(${scale} ${-scale})" fill="#000" d="${glyph.path.toSVG()}"/></svg>`;
  const rgba = new Resvg(svg, { fitTo: { mode: 'original' }, shapeRendering: 2, font: { loadSystemFonts: false } }).render().pixels;
  const alpha = new Uint8Array(width * height);
  for (let k = 0; k < alpha.length; k++) alpha[k] = rgba[k * 4 + 3];
  return { id: cp, x: 0, y: 0, width, height, xoffset: x0, yoffset: base - top, xadvance, alpha };
}

/** Shelf packing, tallest first: simple and deterministic. Returns the page height. */
function pack(glyphs: Glyph[]): number {
  const order = [...glyphs].filter((g) => g.width > 0).sort((a, b) => b.height - a.height || a.id - b.id);
  let x = PADDING, y = PADDING, shelf = 0;
  for (const g of order) {
    if (x + g.width + PADDING > PAGE_WIDTH) { x = PADDING; y += shelf + PADDING; shelf = 0; }
    g.x = x; g.y = y;
    x += g.width + PADDING;
    shelf = Math.max(shelf, g.height);
  }
  return y + shelf + PADDING;
}

/** BMFont binary, version 3 (angelcode.com/products/bmfont/doc/file_format.html). */
function writeFnt(spec: FontSpec, familyName: string, lineHeight: number, base: number, pageHeight: number, glyphs: Glyph[]): Buffer {
  const blocks: Buffer[] = [Buffer.from([0x42, 0x4d, 0x46, 3])];
  const block = (type: number, body: Buffer) => {
    const head = Buffer.alloc(5);
    head[0] = type;
    head.writeUInt32LE(body.length, 1);
    blocks.push(head, body);
  };
  const name = Buffer.from(familyName + '\0', 'utf8');
  const info = Buffer.alloc(14);
  info.writeInt16LE(spec.size, 0);
  info[2] = 0b1100_0000; // smooth, unicode
  info[3] = 0; // charSet (unused with unicode)
  info.writeUInt16LE(100, 4); // stretchH
  info[6] = 1; // aa
  info.fill(0, 7, 11); // padding up/right/down/left
  info[11] = PADDING; info[12] = PADDING; // spacing
  info[13] = 0; // outline
  block(1, Buffer.concat([info, name]));
  const common = Buffer.alloc(15);
  common.writeUInt16LE(lineHeight, 0);
  common.writeUInt16LE(base, 2);
  common.writeUInt16LE(PAGE_WIDTH, 4);
  common.writeUInt16LE(pageHeight, 6);
  common.writeUInt16LE(1, 8); // pages
  common[10] = 0; // packed: no
  common[11] = 0; common[12] = 4; common[13] = 4; common[14] = 4; // alpha holds the glyph; rgb one
  block(2, common);
  block(3, Buffer.from(`${spec.name}.png\0`, 'utf8'));
  const chars = Buffer.alloc(20 * glyphs.length);
  glyphs.forEach((g, k) => {
    const o = k * 20;
    chars.writeUInt32LE(g.id, o);
    chars.writeUInt16LE(g.x, o + 4);
    chars.writeUInt16LE(g.y, o + 6);
    chars.writeUInt16LE(g.width, o + 8);
    chars.writeUInt16LE(g.height, o + 10);
    chars.writeInt16LE(g.xoffset, o + 12);
    chars.writeInt16LE(g.yoffset, o + 14);
    chars.writeInt16LE(g.xadvance, o + 16);
    chars[o + 18] = 0; // page
    chars[o + 19] = 15; // all channels (compressbmf sets its own flags in this byte's high bits)
  });
  block(4, chars);
  return Buffer.concat(blocks);
}

export function makeFont(spec: FontSpec, characters: number[] = charactersFor(spec.set)): MadeFont {
  const font = openFace(spec.face);
  const scale = spec.size / font.unitsPerEm;
  // Noto CJK's hhea box (1.448 em) would space lines far apart on a 320 px screen; its ideographic
  // em box (typo ascender 880, descender -120) plus a 15 % gap is what a CJK line needs.
  const ascent = Math.round(font['OS/2'].typoAscender * scale);
  const descent = Math.round(-font['OS/2'].typoDescender * scale);
  const gap = Math.round(spec.size * 0.15);
  const base = ascent + Math.ceil(gap / 2);
  const lineHeight = ascent + descent + gap;
  const missing = characters.filter((cp) => font.glyphForCodePoint(cp).id === 0);
  const glyphs = characters.filter((cp) => !missing.includes(cp)).map((cp) => rasterize(font, cp, spec.size, base));
  const pageHeight = pack(glyphs);
  const png = new PNG({ width: PAGE_WIDTH, height: pageHeight, colorType: 6 });
  png.data.fill(0);
  for (const g of glyphs) {
    for (let row = 0; row < g.height; row++) {
      for (let col = 0; col < g.width; col++) {
        const o = ((g.y + row) * PAGE_WIDTH + g.x + col) * 4;
        png.data[o] = 255; png.data[o + 1] = 255; png.data[o + 2] = 255;
        png.data[o + 3] = g.alpha[row * g.width + col];
      }
    }
  }
  const fnt = writeFnt(spec, font.familyName, lineHeight, base, pageHeight, glyphs);
  return { fnt, png: PNG.sync.write(png, { colorType: 6 }), glyphs: glyphs.length, missing };
}

function main(): void {
  const check = process.argv.includes('--check');
  let stale = false;
  for (const spec of FONTS) {
    const made = makeFont(spec);
    if (made.missing.length > 0) {
      const list = made.missing.map((cp) => `U+${cp.toString(16).toUpperCase()} ${String.fromCodePoint(cp)}`).join(', ');
      throw new Error(`${spec.name}: ${spec.face} has no glyph for ${list}`);
    }
    const fntPath = join(FONT_DIR, `${spec.name}.fnt`);
    const pngPath = join(FONT_DIR, `${spec.name}.png`);
    if (check) {
      const same = existsSync(fntPath) && existsSync(pngPath) && readFileSync(fntPath).equals(made.fnt) && readFileSync(pngPath).equals(made.png);
      if (!same) { stale = true; console.log(`${spec.name}: stale, run npx tsx scripts/fonts/make-fonts.ts`); }
      continue;
    }
    writeFileSync(fntPath, made.fnt);
    writeFileSync(pngPath, made.png);
    console.log(`${spec.name}: ${made.glyphs} glyphs, .fnt ${made.fnt.length} B, .png ${made.png.length} B`);
  }
  if (stale) process.exit(1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
