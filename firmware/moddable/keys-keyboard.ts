/**
 * Keys for the desktop simulator (lin), which has no GPIO: the simulator window forwards key
 * presses to `screen.context`, and the digits 1–5 stand for the five keys (1 → index 0). The
 * window's auto-repeat sends repeated key-downs; only level changes are edges.
 */
import type { Keys } from '../core/hardware.js';

const KEY_CHARACTERS = '12345';

/** The simulator's screen global (build/simulators/modules/screen.c) calls these on its context. */
interface SimulatorScreenContext {
  onKeyDown?: (key: string, modifiers: number, when: number) => void;
  onKeyUp?: (key: string, modifiers: number, when: number) => void;
}

export class KeyboardKeys implements Keys {
  onChange: ((index: number, pressed: boolean) => void) | undefined = undefined;
  readonly #levels: boolean[] = [false, false, false, false, false];

  /** Call once the display exists: Piu's view only becomes `screen.context` when it is built. */
  attach(): void {
    const screen = (globalThis as { screen?: { context?: SimulatorScreenContext } }).screen;
    const context = screen?.context;
    if (!context) {
      trace('keys: no simulator screen; keyboard keys are off\n');
      return;
    }
    context.onKeyDown = (key) => this.#sample(key, true);
    context.onKeyUp = (key) => this.#sample(key, false);
  }

  #sample(key: string, pressed: boolean): void {
    const index = KEY_CHARACTERS.indexOf(key);
    if (index < 0 || this.#levels[index] === pressed) return;
    this.#levels[index] = pressed;
    this.onChange?.(index, pressed);
  }
}
