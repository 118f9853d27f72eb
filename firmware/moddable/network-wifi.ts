/**
 * Wi-Fi station on the ESP32 (the SDK's `wifi` module). Keeps trying for as long as the device
 * runs: a hall's access point may reboot at night, and the pads must come back by themselves.
 */
import WiFi from 'wifi';
import Net from 'net';
import type { Timers, TimerId } from '../core/hardware.js';
import type { Network, NetworkEvents } from './network.js';

const RETRY = 5_000; // milliseconds between association attempts
const ASSOCIATE_TIMEOUT = 30_000; // milliseconds without an address before starting over

export class WifiNetwork implements Network {
  readonly #ssid: string;
  readonly #password: string | undefined;
  readonly #timers: Timers;
  #events: NetworkEvents | undefined;
  #wifi: WiFi | undefined;
  #up = false;
  #timer: TimerId | undefined;

  constructor(options: { ssid: string; password?: string }, timers: Timers) {
    this.#ssid = options.ssid;
    this.#password = options.password;
    this.#timers = timers;
  }

  start(events: NetworkEvents): void {
    this.#events = events;
    WiFi.mode = WiFi.Mode.station;
    this.#associate();
  }

  rssi(): number {
    return this.#up ? Net.get('RSSI') : 0;
  }

  #associate(): void {
    this.#close();
    trace(`wifi: joining "${this.#ssid}"\n`);
    const options = this.#password ? { ssid: this.#ssid, password: this.#password } : { ssid: this.#ssid };
    this.#wifi = new WiFi(options, (message) => {
      if (message === WiFi.gotIP) {
        this.#clearTimer();
        this.#up = true;
        trace(`wifi: address ${Net.get('IP')}\n`);
        this.#events?.onUp();
      } else if (message === WiFi.disconnected || message === WiFi.lostIP) {
        const wasUp = this.#up;
        this.#up = false;
        if (wasUp) this.#events?.onDown();
        this.#retry(RETRY);
      }
    });
    this.#retry(ASSOCIATE_TIMEOUT);
  }

  #retry(ms: number): void {
    this.#clearTimer();
    this.#timer = this.#timers.set(() => {
      this.#timer = undefined;
      if (!this.#up) this.#associate();
    }, ms);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
  }

  #close(): void {
    if (!this.#wifi) return;
    try {
      this.#wifi.close();
    } catch {
      // the station may already be gone
    }
    this.#wifi = undefined;
  }
}

/** ESP32 device id: the station MAC without separators, stable across reflashing. */
export function macDeviceId(): string {
  return Net.get('MAC').replace(/:/g, '').toLowerCase();
}
