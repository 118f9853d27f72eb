/**
 * Sound on the ESP32's audio out (pins/audioout, I2S or the internal DAC as the board's
 * manifest configures it): short tone sequences, no audio assets to store.
 */
import AudioOut from 'pins/audioout';
import type { Sound, Tone } from '../core/hardware.js';

/** Each tone as [frequency Hz, milliseconds] steps; 0 Hz is a rest. */
const MELODIES: Record<Tone, [number, number][]> = {
  chime: [[784, 220], [0, 40], [659, 220], [0, 40], [523, 380]], // ding-dong-dong for a call
  ok: [[1047, 80]],
  thanks: [[659, 120], [784, 120], [1047, 200]],
  error: [[220, 180], [0, 60], [220, 180]],
  click: [[2000, 15]],
};

export class ToneSound implements Sound {
  readonly #out: AudioOut;
  readonly #rate: number;
  #volume: number;

  /** `volume` is 0–10 as in DeviceConfig. */
  constructor(volume: number, sampleRate = 11025) {
    this.#rate = sampleRate;
    this.#out = new AudioOut({ sampleRate, bitsPerSample: 16, numChannels: 1, streams: 1 });
    this.#volume = volume;
    this.#out.start();
  }

  setVolume(volume: number): void {
    this.#volume = Math.max(0, Math.min(10, volume));
  }

  play(tone: Tone): void {
    if (this.#volume === 0) return;
    const out = this.#out;
    // A new sound cuts the previous one short: a key click must not queue behind a chime.
    out.enqueue(0, AudioOut.Flush);
    out.enqueue(0, AudioOut.Volume, Math.round((this.#volume / 10) * 256));
    for (const [frequency, ms] of MELODIES[tone]) {
      const samples = Math.round((ms * this.#rate) / 1000);
      if (frequency) out.enqueue(0, AudioOut.Tone, frequency, samples);
      else out.enqueue(0, AudioOut.Silence, samples);
    }
  }
}
