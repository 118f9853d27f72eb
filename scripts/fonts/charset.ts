/**
 * What the firmware can draw, as the device fonts must hold it. Shared by the font maker
 * (scripts/fonts/make-fonts.ts) and the test that checks the committed fonts
 * (tests/firmware/fonts.test.ts).
 *
 * Sources, all read from the repo, none typed by hand here:
 *   - every string literal and template-literal text in firmware/**.ts (comments skipped), so a
 *     new notice in caller.ts or pad.ts needs no second edit;
 *   - the manifest's config strings (idleText), which override the firmware's at build time;
 *   - firmware/moddable/fonts/hall-chars.txt: characters of text the hub sends at run time
 *     (item names, transfer targets, notices) that a site wants drawn; one file a site edits;
 *   - printable ASCII: window ids, ticket numbers, digits of counts, log-ish notices.
 * The number font holds what the number line can show: ticket numbers (TICKET_PATTERN in
 * firmware/core/protocol.ts, letters, digits and '-') and the '---' placeholder.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FONT_DIR = join(ROOT, 'firmware', 'moddable', 'fonts');
export const HALL_CHARS_FILE = join(FONT_DIR, 'hall-chars.txt');

/** The device fonts: Piu resource names (Family-Weight-Size, as Piu looks them up). */
export interface FontSpec {
  /** Resource name without extension, e.g. SannuoCJK-Regular-24. */
  name: string;
  /** Noto Sans CJK face in the Debian collection. */
  face: 'NotoSansCJKsc-Regular' | 'NotoSansCJKsc-Bold';
  /** Pixel size (em square). */
  size: number;
  /** Which character set it holds. */
  set: 'text' | 'number';
}

export const FONTS: readonly FontSpec[] = [
  { name: 'SannuoCJK-Regular-24', face: 'NotoSansCJKsc-Regular', size: 24, set: 'text' },
  { name: 'SannuoCJK-Regular-18', face: 'NotoSansCJKsc-Regular', size: 18, set: 'text' },
  { name: 'SannuoCJK-Bold-72', face: 'NotoSansCJKsc-Bold', size: 72, set: 'number' },
];

function sources(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * The text of every string literal in a TypeScript source: '…', "…", and the literal parts of
 * `…${…}…` (nested templates included). Comments and regular expressions' bodies are not
 * strings and are skipped; a regex literal is told from division by the token before it.
 */
export function stringLiterals(source: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = source.length;
  let prev = ''; // last significant character outside strings, to tell a regex from a division
  // Brace depth per open template substitution: at depth 0 a '}' goes back into the template.
  const templateStack: number[] = [];

  const readQuoted = (quote: string): string => {
    let text = '';
    i++;
    while (i < n && source[i] !== quote) {
      if (source[i] === '\\') { text += unescape(source[i + 1]); i += 2; continue; }
      text += source[i++];
    }
    i++;
    return text;
  };
  /** Reads template text from i (just past ` or }) to the next ` or ${. */
  const readTemplate = (): void => {
    let text = '';
    while (i < n) {
      const c = source[i];
      if (c === '\\') { text += unescape(source[i + 1]); i += 2; continue; }
      if (c === '`') { i++; out.push(text); prev = 'x'; return; }
      if (c === '$' && source[i + 1] === '{') { i += 2; out.push(text); templateStack.push(0); prev = '('; return; }
      text += c;
      i++;
    }
  };

  while (i < n) {
    const c = source[i];
    if (c === '/' && source[i + 1] === '/') { while (i < n && source[i] !== '\n') i++; continue; }
    if (c === '/' && source[i + 1] === '*') { const end = source.indexOf('*/', i + 2); i = end < 0 ? n : end + 2; continue; }
    if (c === '"' || c === "'") { out.push(readQuoted(c)); prev = 'x'; continue; }
    if (c === '`') { i++; readTemplate(); continue; }
    if (c === '/' && (prev === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prev))) {
      // a regex literal: skip to its closing slash (classes may hold '/')
      i++;
      let inClass = false;
      while (i < n) {
        const r = source[i];
        if (r === '\\') { i += 2; continue; }
        if (r === '[') inClass = true;
        else if (r === ']') inClass = false;
        else if (r === '/' && !inClass) break;
        i++;
      }
      i++;
      while (i < n && /[a-z]/.test(source[i])) i++;
      prev = 'x';
      continue;
    }
    if (templateStack.length > 0) {
      if (c === '{') templateStack[templateStack.length - 1]++;
      if (c === '}') {
        if (templateStack[templateStack.length - 1] === 0) { templateStack.pop(); i++; readTemplate(); continue; }
        templateStack[templateStack.length - 1]--;
      }
    }
    if (!/\s/.test(c)) prev = /[A-Za-z0-9_$)\]]/.test(c) ? 'x' : c;
    i++;
  }
  return out;
}

function unescape(c: string | undefined): string {
  switch (c) {
    case 'n': case 'r': case 't': return ' ';
    case undefined: return '';
    default: return c;
  }
}

/** Every string literal of the firmware, with the file it came from. */
export function firmwareStrings(): { file: string; text: string }[] {
  return sources(join(ROOT, 'firmware')).flatMap((file) =>
    stringLiterals(readFileSync(file, 'utf8')).map((text) => ({ file, text })));
}

/** The manifest's configured strings a device shows (they replace the firmware defaults). */
export function manifestStrings(): string[] {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'manifest.json'), 'utf8')) as {
    config?: { sannuo?: Record<string, unknown> };
    platforms?: Record<string, { config?: { sannuo?: Record<string, unknown> } }>;
  };
  const configs = [manifest.config?.sannuo, ...Object.values(manifest.platforms ?? {}).map((p) => p.config?.sannuo)];
  return configs.flatMap((c) => (c && typeof c.idleText === 'string' ? [c.idleText] : []));
}

/** Characters a site lists for text the hub sends at run time; '#' starts a comment line. */
export function hallChars(): string {
  return readFileSync(HALL_CHARS_FILE, 'utf8').split('\n').filter((l) => !l.startsWith('#')).join('');
}

export const PRINTABLE_ASCII = Array.from({ length: 0x7f - 0x20 }, (_, k) => String.fromCharCode(0x20 + k)).join('');
/** A ticket number: TICKET_PATTERN's class [A-Za-z0-9-]; '---' stands for no ticket. */
export const TICKET_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-';

/** Code points, ascending and unique (BMFont for Commodetto wants them ascending). */
export function codePoints(text: string): number[] {
  const set = new Set<number>();
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0x20 && cp !== 0xfeff) set.add(cp);
  }
  return [...set].sort((a, b) => a - b);
}

/** The characters a font of this set must hold. */
export function charactersFor(set: FontSpec['set']): number[] {
  if (set === 'number') return codePoints(TICKET_CHARS);
  const text = firmwareStrings().map((s) => s.text).join('') + manifestStrings().join('') + hallChars() + PRINTABLE_ASCII;
  return codePoints(text);
}
