/**
 * PCM WAV files, just what announcements need: read a RIFF/WAVE file's format and samples,
 * join clips of one format, trim silence at the ends, make a chime, and write it back.
 * 16-bit little-endian PCM only (what espeak-ng writes, and what a site records clips in).
 */

export interface Pcm { rate: number; channels: number; samples: Int16Array }

export function readWav(buf: Buffer): Pcm {
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new Error('wav: not a RIFF/WAVE file');
  let i = 12;
  let rate = 0, channels = 0, bits = 0;
  let data: Buffer | undefined;
  while (i + 8 <= buf.length) {
    const id = buf.toString('ascii', i, i + 4);
    let size = buf.readUInt32LE(i + 4);
    // espeak-ng writing to a pipe leaves the sizes at 0x7fffffff: the data runs to the end.
    if (i + 8 + size > buf.length) size = buf.length - i - 8;
    if (id === 'fmt ') {
      if (buf.readUInt16LE(i + 8) !== 1) throw new Error('wav: only PCM is supported');
      channels = buf.readUInt16LE(i + 10);
      rate = buf.readUInt32LE(i + 12);
      bits = buf.readUInt16LE(i + 22);
    } else if (id === 'data') data = buf.subarray(i + 8, i + 8 + size);
    i += 8 + size + (size & 1);
  }
  if (!rate || !data) throw new Error('wav: no fmt or data chunk');
  if (bits !== 16) throw new Error(`wav: ${bits}-bit samples; expected 16-bit PCM`);
  const samples = new Int16Array(Math.floor(data.length / 2));
  for (let k = 0; k < samples.length; k++) samples[k] = data.readInt16LE(k * 2);
  return { rate, channels, samples };
}

export function writeWav(pcm: Pcm): Buffer {
  const bytes = pcm.samples.length * 2;
  const out = Buffer.alloc(44 + bytes);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + bytes, 4);
  out.write('WAVEfmt ', 8, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20);
  out.writeUInt16LE(pcm.channels, 22);
  out.writeUInt32LE(pcm.rate, 24);
  out.writeUInt32LE(pcm.rate * pcm.channels * 2, 28);
  out.writeUInt16LE(pcm.channels * 2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(bytes, 40);
  for (let k = 0; k < pcm.samples.length; k++) out.writeInt16LE(pcm.samples[k], 44 + k * 2);
  return out;
}

export function durationMs(pcm: Pcm): number {
  return Math.round((pcm.samples.length / pcm.channels / pcm.rate) * 1000);
}

/** Clips of one format joined, with `gapMs` of silence between them. */
export function join(clips: Pcm[], gapMs = 0): Pcm {
  if (clips.length === 0) throw new Error('wav: nothing to join');
  const { rate, channels } = clips[0];
  for (const c of clips) if (c.rate !== rate || c.channels !== channels) throw new Error(`wav: clips differ in format (${c.rate} Hz × ${c.channels} and ${rate} Hz × ${channels}); record every clip alike`);
  const gap = Math.round((gapMs / 1000) * rate) * channels;
  const total = clips.reduce((n, c) => n + c.samples.length, 0) + gap * (clips.length - 1);
  const samples = new Int16Array(total);
  let at = 0;
  clips.forEach((c, k) => {
    samples.set(c.samples, at);
    at += c.samples.length + (k < clips.length - 1 ? gap : 0);
  });
  return { rate, channels, samples };
}

/** Silence trimmed from both ends, keeping `keepMs` of it (a synthesizer pads each phrase). */
export function trim(pcm: Pcm, keepMs = 15, threshold = 300): Pcm {
  const s = pcm.samples;
  let a = 0;
  let b = s.length - 1;
  while (a < s.length && Math.abs(s[a]) < threshold) a++;
  while (b > a && Math.abs(s[b]) < threshold) b--;
  if (a >= b) return pcm;
  const keep = Math.round((keepMs / 1000) * pcm.rate) * pcm.channels;
  return { ...pcm, samples: s.slice(Math.max(0, a - keep), Math.min(s.length, b + keep + 1)) };
}

/** A two-note chime (叮咚, E6 then C6) of about 0.9 s in the given format. */
export function chime(rate = 22050, channels = 1): Pcm {
  const notes = [[1318.5, 0.35], [1046.5, 0.55]] as const;
  const parts: number[] = [];
  for (const [f, seconds] of notes) {
    const n = Math.round(seconds * rate);
    for (let k = 0; k < n; k++) {
      const t = k / rate;
      // A struck bell: quick attack, exponential decay, a little of the octave.
      const env = Math.min(1, t / 0.005) * Math.exp(-t * 5);
      const v = Math.round(9000 * env * (Math.sin(2 * Math.PI * f * t) + 0.3 * Math.sin(4 * Math.PI * f * t)));
      for (let c = 0; c < channels; c++) parts.push(v);
    }
  }
  return { rate, channels, samples: Int16Array.from(parts) };
}
