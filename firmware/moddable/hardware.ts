/**
 * Builds the core's Hardware from the Moddable adapters. Everything platform-specific came in
 * through `platform`; everything here runs on every Moddable target.
 */
import Resource from 'Resource';
import type { Hardware } from '../core/hardware.js';
import type { DeviceConfig } from '../core/config.js';
import type { BoardConfig } from './config.js';
import { fileRoot } from './config.js';
import { DateClock } from './clock.js';
import { ModdableTimers } from './timers.js';
import { FileFlash } from './flash-file.js';
import { PiuDisplay } from './display-piu.js';
import { TraceDisplay } from './display-trace.js';
import { BoardHealth } from './health.js';
import { nativeHmacSha256 } from './hmac.js';
import { MqttTransport } from './transport-mqtt.js';
import { PreferenceStorage } from './storage-preference.js';
import type { Platform } from './platform-types.js';

export interface BuiltHardware {
  hardware: Hardware;
  transport: MqttTransport;
}

export function hasScreen(): boolean {
  return Boolean((globalThis as { screen?: unknown }).screen);
}

export function createDisplay(board: BoardConfig): Hardware['display'] {
  return hasScreen() ? new PiuDisplay(board.fonts) : new TraceDisplay();
}

export function buildHardware(
  config: DeviceConfig,
  board: BoardConfig,
  platform: Platform,
  display: Hardware['display'],
  timers: ModdableTimers,
): BuiltHardware {
  const random = () => Math.random();
  const transport = new MqttTransport(
    {
      host: config.broker.host,
      port: config.broker.port,
      tls: config.broker.tls,
      ...(board.caResource ? { caCertificate: new Resource(board.caResource) as unknown as HostBuffer } : {}),
    },
    timers,
    random,
  );
  const hardware: Hardware = {
    clock: new DateClock(),
    timers,
    keys: platform.keys,
    flash: new FileFlash(fileRoot() + board.flashDir),
    display,
    sound: platform.sound,
    transport,
    health: new BoardHealth({ ...(platform.battery ? { battery: platform.battery } : {}), rssi: () => platform.network.rssi() }),
    hmac: nativeHmacSha256,
    storage: new PreferenceStorage(board.storageDomain),
    random,
  };
  return { hardware, transport };
}
