/**
 * Keys for the desktop simulator (lin), which has no GPIO. Two ways in:
 *   - on-screen buttons: a row of five touch buttons the Piu display draws at its foot (mcsim
 *     turns mouse clicks into Piu touches). This is how a technician presses every key;
 *   - mcsim's mockup message `{"button": 1 | 0}` from its Default button, which is key 1.
 * Piu on lin delivers no keyboard events to the app (mcsim's GTK host keeps them), so there is
 * no keyboard path: an earlier version hooked `screen.context.onKeyDown`, which never fired.
 * Only level changes are edges.
 */
import type { Display, Keys } from '../core/hardware.js';
import type { Role } from '../core/protocol.js';

/** What the lin keys need from the display: a row of buttons that report press and release. */
export interface KeyButtonHost extends Display {
  showKeys?(labels: readonly string[], onKey: (index: number, pressed: boolean) => void): void;
}

/** Button captions by key index: a pad's keys are numbered as its screen lists them (1 = level
 * 5); a display's follow CALLER_KEYS (next, recall, no-show, transfer, pause). */
const KEY_LABELS: Record<Role, readonly string[]> = {
  pad: ['1', '2', '3', '4', '5'],
  display: ['叫号', '重呼', '过号', '转移', '暂停'],
  // The firmware has no terminal role yet (Device refuses it at boot): no keys to draw.
  terminal: [],
};

interface SimulatorScreen {
  onMessage?: (message: string | ArrayBuffer) => void;
}

export class KeyboardKeys implements Keys {
  onChange: ((index: number, pressed: boolean) => void) | undefined = undefined;
  readonly #levels: boolean[] = [false, false, false, false, false];

  /** Call once the display exists: its buttons and mcsim's screen are there only then. */
  attach(display: KeyButtonHost, role: Role): void {
    const screen = (globalThis as { screen?: SimulatorScreen }).screen;
    if (!screen) {
      trace('keys: no simulator screen; keys are off\n');
      return;
    }
    screen.onMessage = (message) => this.#message(message);
    if (display.showKeys) display.showKeys(KEY_LABELS[role], (index, pressed) => this.#sample(index, pressed));
    else trace('keys: the display draws no buttons; only key 1 (the mockup button) works\n');
  }

  #message(message: string | ArrayBuffer): void {
    let json: unknown;
    try {
      json = JSON.parse(typeof message === 'string' ? message : String.fromArrayBuffer(message));
    } catch {
      return; // not a mockup control message
    }
    if (typeof json !== 'object' || json === null) return;
    const m = json as { button?: unknown };
    if (m.button === 0 || m.button === 1) this.#sample(0, m.button === 1);
  }

  #sample(index: number, pressed: boolean): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#levels.length || this.#levels[index] === pressed) return;
    this.#levels[index] = pressed;
    trace(`keys: ${index + 1} ${pressed ? 'down' : 'up'}\n`);
    this.onChange?.(index, pressed);
  }
}
