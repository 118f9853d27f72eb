/**
 * Keys for the desktop simulator (lin), which has no GPIO. mcsim's device mockups post their
 * buttons to the app as JSON through `screen.onMessage`: `{"button": 1 | 0}` for the mockup's
 * Default button (key 1 here, index 0), and `{"key": index, "pressed": bool}` for a mockup that
 * draws all five keys. Key events that reach `screen.context` ("1"–"5") count too. Only level
 * changes are edges: the window's auto-repeat sends repeated downs.
 */
import type { Keys } from '../core/hardware.js';

const KEY_CHARACTERS = '12345';

interface SimulatorScreen {
  onMessage?: (message: string | ArrayBuffer) => void;
  context?: {
    onKeyDown?: (key: string, modifiers: number, when: number) => void;
    onKeyUp?: (key: string, modifiers: number, when: number) => void;
  };
}

export class KeyboardKeys implements Keys {
  onChange: ((index: number, pressed: boolean) => void) | undefined = undefined;
  readonly #levels: boolean[] = [false, false, false, false, false];

  /** Call once the display exists: Piu's view only becomes `screen.context` when it is built. */
  attach(): void {
    const screen = (globalThis as { screen?: SimulatorScreen }).screen;
    if (!screen) {
      trace('keys: no simulator screen; keys are off\n');
      return;
    }
    screen.onMessage = (message) => this.#message(message);
    if (screen.context) {
      screen.context.onKeyDown = (key) => this.#character(key, true);
      screen.context.onKeyUp = (key) => this.#character(key, false);
    }
  }

  #message(message: string | ArrayBuffer): void {
    let json: unknown;
    try {
      json = JSON.parse(typeof message === 'string' ? message : String.fromArrayBuffer(message));
    } catch {
      return; // not a mockup control message
    }
    if (typeof json !== 'object' || json === null) return;
    const m = json as { button?: unknown; key?: unknown; pressed?: unknown };
    if (m.button === 0 || m.button === 1) this.#sample(0, m.button === 1);
    else if (typeof m.key === 'number' && typeof m.pressed === 'boolean') this.#sample(m.key, m.pressed);
  }

  #character(key: string, pressed: boolean): void {
    const index = KEY_CHARACTERS.indexOf(key);
    if (index >= 0) this.#sample(index, pressed);
  }

  #sample(index: number, pressed: boolean): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#levels.length || this.#levels[index] === pressed) return;
    this.#levels[index] = pressed;
    trace(`keys: ${index + 1} ${pressed ? 'down' : 'up'}\n`);
    this.onChange?.(index, pressed);
  }
}
