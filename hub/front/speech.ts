/**
 * What a call says and how it is voiced, offline.
 *
 * Text: "请 A042 号 到 3 号窗口 办理", as phrases: 请 / A零四二号 / 到 / 三号窗口 / 办理. A ticket's
 * digits are read one by one (A零四二), a window's number as a number (十二号窗口).
 *
 * Voices:
 * - EspeakVoice: espeak-ng (Debian) with the cmn-latn-pinyin voice. The hanzi become tone-numbered
 *   pinyin through pinyin-pro first, because the plain cmn voice misreads many characters
 *   (espeak-ng #1236). Each phrase is rendered once and kept in a cache folder (a WAV per
 *   phrase, named by a hash of voice, speed and text), so a hall's few hundred phrases are
 *   synthesized once.
 * - ClipVoice: a folder of recorded WAVs, one per syllable or word (请.wav, 零.wav … 九.wav,
 *   号.wav, 到.wav, 窗口.wav, 办理.wav, A.wav …), joined in order; the longest clip name that
 *   matches is taken first. A text a clip is missing for is an error naming it.
 */

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { pinyin } from 'pinyin-pro';
import { join, readWav, trim, type Pcm } from './wav.js';

const run = promisify(execFile);
const DIGITS = '零一二三四五六七八九';

export type CallKind = 'call' | 'recall' | 'transfer';

/** A ticket number read digit by digit: A042 → A零四二. */
export function spokenNumber(number: string): string {
  return number.replace(/[0-9]/g, (d) => DIGITS[Number(d)]);
}

/** 1–99 as a number is read: 3 → 三, 10 → 十, 12 → 十二, 20 → 二十; larger digit by digit. */
export function cardinal(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 99) return String(n).replace(/[0-9]/g, (d) => DIGITS[Number(d)]);
  if (n < 10) return DIGITS[n];
  const tens = Math.floor(n / 10);
  const ones = n % 10;
  return `${tens === 1 ? '' : DIGITS[tens]}十${ones ? DIGITS[ones] : ''}`;
}

/** How a window is named aloud: its Chinese name (一号窗口) if it has one, else 「N号窗口」 from the digits of its name or id. */
export function spokenWindow(id: string, name: string): string {
  const han = /[\u4e00-\u9fff]/.test(name);
  const digits = /(\d+)/.exec(han ? name : `${name} ${id}`);
  if (han) return name.replace(/\d+/g, (d) => cardinal(Number(d)));
  return digits ? `${cardinal(Number(digits[1]))}号窗口` : `${id}窗口`;
}

/** The phrases of one announcement. A transfer names the window it sends the citizen to. */
export function callPhrases(number: string, windowSpoken: string): string[] {
  return ['请', `${spokenNumber(number)}号`, '到', windowSpoken, '办理'];
}

/**
 * The same words as voiced, one cacheable unit each: the ticket number syllable by syllable
 * (A / 零 / 四 / 二 / 号), so every unit of every call is rendered ahead (hub/front/board.ts warms
 * the cache) and a call never waits for the synthesizer.
 */
export function voicedPhrases(number: string, windowSpoken: string): string[] {
  return ['请', ...[...spokenNumber(number)], '号', '到', windowSpoken, '办理'];
}

/** Units every hall says: the fixed words and the ten digits. */
export const COMMON_PHRASES = ['请', '号', '到', '办理', ...DIGITS];

/** Hanzi to espeak-ng's pinyin voice input: tone numbers, neutral tone as 5, letters kept. */
export function toPinyin(text: string): string {
  const syllables = pinyin(text, { toneType: 'num', type: 'array' }) as string[];
  return syllables.map((s) => s.trim()).filter(Boolean).map((s) => s.replace(/^([a-zü]+)0$/, '$15')).join(' ');
}

export interface Voice {
  readonly name: string;
  /** One phrase as PCM. */
  phrase(text: string): Promise<Pcm>;
}

export class EspeakVoice implements Voice {
  readonly name: string;
  /** Phrases rendered by espeak-ng (not from the cache), for the tests and metrics. */
  rendered = 0;

  constructor(private readonly o: { cacheDir: string; binary?: string; voice?: string; speed?: number }) {
    this.name = `espeak-ng ${o.voice ?? 'cmn-latn-pinyin'} ${o.speed ?? 160}`;
    fs.mkdirSync(o.cacheDir, { recursive: true, mode: 0o700 });
  }

  cacheFile(text: string): string {
    return path.join(this.o.cacheDir, `${createHash('sha256').update(`${this.name}\n${text}`).digest('hex').slice(0, 32)}.wav`);
  }

  async phrase(text: string): Promise<Pcm> {
    const file = this.cacheFile(text);
    if (!fs.existsSync(file)) {
      // Rendered to a temp name, then renamed: a cut-short render never sits in the cache.
      const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      await run(this.o.binary ?? 'espeak-ng', ['-v', this.o.voice ?? 'cmn-latn-pinyin', '-s', String(this.o.speed ?? 160), '-w', tmp, toPinyin(text)], { timeout: 10_000 });
      fs.renameSync(tmp, file);
      this.rendered++;
    }
    return trim(readWav(fs.readFileSync(file)));
  }
}

export class ClipVoice implements Voice {
  readonly name = 'clips';
  private readonly clips = new Map<string, Pcm>();
  private readonly longest: number;

  constructor(readonly dir: string) {
    for (const f of fs.readdirSync(dir)) {
      if (!f.toLowerCase().endsWith('.wav')) continue;
      this.clips.set(f.slice(0, -4).normalize('NFC'), readWav(fs.readFileSync(path.join(dir, f))));
    }
    if (this.clips.size === 0) throw new Error(`announcer clips: ${dir} holds no .wav file`);
    this.longest = Math.max(...[...this.clips.keys()].map((k) => [...k].length));
  }

  /** The chime.wav of the folder, if the site recorded one. */
  chime(): Pcm | undefined {
    return this.clips.get('chime');
  }

  /** The clip names that spell `text`, longest match first; throws naming the first gap. */
  spell(text: string): string[] {
    const chars = [...text.replace(/\s+/g, '')];
    const out: string[] = [];
    for (let i = 0; i < chars.length;) {
      let found = '';
      for (let n = Math.min(this.longest, chars.length - i); n > 0; n--) {
        const part = chars.slice(i, i + n).join('');
        if (this.clips.has(part)) { found = part; break; }
      }
      if (!found) throw new Error(`announcer clips: no clip for 「${chars[i]}」 in 「${text}」 (add ${chars[i]}.wav to ${this.dir})`);
      out.push(found);
      i += [...found].length;
    }
    return out;
  }

  async phrase(text: string): Promise<Pcm> {
    const parts = this.spell(text).map((k) => this.clips.get(k)!);
    return join(parts);
  }
}
