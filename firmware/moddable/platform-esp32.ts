/**
 * The ESP32's own parts: keys on GPIO, tones on the audio out, Wi-Fi, battery ADC, MAC id.
 * The manifest maps the module "moddable/platform" here for esp32 builds.
 */
import type { Timers } from '../core/hardware.js';
import type { BoardConfig } from './config.js';
import { DigitalKeys } from './keys-digital.js';
import { ToneSound } from './sound-tone.js';
import { TraceSound } from './sound-trace.js';
import { WifiNetwork, macDeviceId } from './network-wifi.js';
import type { Network } from './network.js';
import { HostNetwork } from './network-host.js';
import { AdcBattery } from './battery-adc.js';
import type { Platform } from './platform-types.js';

export const platformName = 'esp32';

export function deviceId(): string | undefined {
  return macDeviceId();
}

export function createPlatform(board: BoardConfig, keyPins: number[], volume: number, timers: Timers): Platform {
  let sound: Platform['sound'];
  try {
    sound = new ToneSound(volume);
  } catch (error) {
    // A board without an audio out configured in its manifest still rates and calls.
    trace(`sound: no audio out (${String(error)})\n`);
    sound = new TraceSound(volume);
  }
  const network: Network = board.wifi ? new WifiNetwork(board.wifi, timers) : new HostNetwork();
  if (!board.wifi) trace('wifi: no SSID configured; assuming a wired or host network\n');
  const battery = board.battery ? new AdcBattery(board.battery) : undefined;
  return {
    battery: battery ? () => battery.percent() : undefined,
    keys: new DigitalKeys({ pins: keyPins, activeLow: board.keysActiveLow }),
    sound,
    network,
    afterDisplay() {},
  };
}
