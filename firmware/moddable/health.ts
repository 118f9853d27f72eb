/**
 * Health readings for the state message: battery from the platform's reader (-1 on mains
 * power), Wi-Fi RSSI from the network, free heap from the SDK's instrumentation.
 */
import Instrumentation from 'instrumentation';
import type { Health } from '../core/hardware.js';

export class BoardHealth implements Health {
  readonly #battery: (() => number) | undefined;
  readonly #rssi: () => number;
  readonly #freeMemory = Instrumentation.map('System Free Memory');

  constructor(options: { battery?: () => number; rssi: () => number }) {
    this.#battery = options.battery;
    this.#rssi = options.rssi;
  }

  battery(): number {
    return this.#battery ? this.#battery() : -1;
  }

  rssi(): number {
    try {
      return this.#rssi();
    } catch {
      return 0;
    }
  }

  /** null where the SDK has no figure: on lin the instrumentation reads 0, which is not a free heap. */
  freeHeap(): number | null {
    const free = this.#freeMemory === undefined ? undefined : Instrumentation.get(this.#freeMemory);
    return typeof free === 'number' && free > 0 ? free : null;
  }
}
