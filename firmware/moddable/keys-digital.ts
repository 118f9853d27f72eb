/**
 * Keys on ECMA-419 digital inputs (embedded:io/digital). Each key is a push button to ground
 * with the internal pull-up, so a pressed key reads 0. Every level change is reported raw to
 * Keys.onChange: the core debounces, this adapter must not.
 */
import Digital from 'embedded:io/digital';
import type { Keys } from '../core/hardware.js';

export interface DigitalKeysOptions {
  /** GPIO of each key, in the order the core numbers them. */
  pins: number[];
  /** true (default): key to ground, pull-up on, pressed = 0. false: key to VCC, pull-down on. */
  activeLow?: boolean;
}

export class DigitalKeys implements Keys {
  onChange: ((index: number, pressed: boolean) => void) | undefined = undefined;
  readonly #inputs: Digital[] = [];
  readonly #levels: boolean[] = [];

  constructor(options: DigitalKeysOptions) {
    const activeLow = options.activeLow ?? true;
    options.pins.forEach((pin, index) => {
      const keys = this;
      const input: Digital = new Digital({
        pin,
        mode: activeLow ? Digital.InputPullUp : Digital.InputPullDown,
        edge: Digital.Rising | Digital.Falling,
        onReadable(this: Digital) {
          keys.#sample(index, this.read() === (activeLow ? 0 : 1));
        },
      });
      this.#inputs.push(input);
      this.#levels.push(input.read() === (activeLow ? 0 : 1));
    });
  }

  /** Reports a level only when it differs from the last one reported for that key: an edge. */
  #sample(index: number, pressed: boolean): void {
    if (this.#levels[index] === pressed) return;
    this.#levels[index] = pressed;
    this.onChange?.(index, pressed);
  }

  close(): void {
    for (const input of this.#inputs) input.close();
    this.#inputs.length = 0;
  }
}
