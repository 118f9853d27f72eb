/** What each platform module (platform-esp32.ts, platform-lin.ts) supplies. */
import type { Display, Keys, Sound } from '../core/hardware.js';
import type { Role } from '../core/protocol.js';
import type { Network } from './network.js';

export interface Platform {
  keys: Keys;
  sound: Sound & { setVolume(volume: number): void };
  network: Network;
  /** Battery percent reader, or undefined on mains power. */
  battery: (() => number) | undefined;
  /** Runs once the display exists (the simulator draws its keys as buttons on it). */
  afterDisplay(display: Display, role: Role): void;
}
