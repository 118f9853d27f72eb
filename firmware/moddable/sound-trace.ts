/** Sound where there is no audio out (the lin simulator): a trace line, so a tester sees it. */
import type { Sound, Tone } from '../core/hardware.js';

export class TraceSound implements Sound {
  #volume: number;

  constructor(volume: number) {
    this.#volume = volume;
  }

  setVolume(volume: number): void {
    this.#volume = volume;
  }

  play(tone: Tone): void {
    trace(`sound: ${tone} (volume ${this.#volume})\n`);
  }
}
