/**
 * The desktop simulator's parts: keys as on-screen buttons (keys-keyboard.ts), sound as trace lines, the host's
 * network, the device id from the config. The manifest maps "moddable/platform" here for lin.
 */
import type { Timers } from '../core/hardware.js';
import type { BoardConfig } from './config.js';
import { KeyboardKeys } from './keys-keyboard.js';
import { TraceSound } from './sound-trace.js';
import { HostNetwork } from './network-host.js';
import type { Platform } from './platform-types.js';

export const platformName = 'lin';

export function deviceId(): string | undefined {
  return undefined;
}

export function createPlatform(_board: BoardConfig, _keyPins: number[], volume: number, _timers: Timers): Platform {
  const keys = new KeyboardKeys();
  return {
    keys,
    sound: new TraceSound(volume),
    network: new HostNetwork(),
    battery: undefined,
    afterDisplay: (display, role) => keys.attach(display, role),
  };
}
