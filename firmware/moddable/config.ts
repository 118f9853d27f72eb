/**
 * Reads the device's settings: the manifest's config section (`config.sannuo`, baked in by
 * mcconfig) overlaid by Preference (provisioning and the hub's config command), then validated
 * by the core's parseDeviceConfig so a bad setting is named at boot instead of misbehaving later.
 */
import mcConfig from 'mc/config';
import { DEVICE_CONFIG_KEYS, deviceDomain, parseDeviceConfig, type DeviceConfig } from '../core/config.js';
import type { BatteryConfig } from './battery-adc.js';
import type { DisplayFonts } from './display-piu.js';
import { loadSettings, useSettingsDomain } from './settings.js';
import { KEEP_DOMAIN } from './storage-preference.js';

/** What the board needs besides DeviceConfig. */
export interface BoardConfig {
  wifi: { ssid: string; password?: string } | null;
  /** Directory for the outbox, below the file system's root. */
  flashDir: string;
  /** Keys wired to ground with pull-ups (true) or to VCC with pull-downs (false). */
  keysActiveLow: boolean;
  battery: BatteryConfig | null;
  fonts: DisplayFonts;
  /** Resource name of a DER CA certificate for TLS to the hall's broker, or null. */
  caResource: string | null;
  /** Preference domain of the device's kept state (the command replay mark). */
  storageDomain: string;
}


export interface LoadedConfig {
  device: DeviceConfig;
  board: BoardConfig;
}

export function loadConfig(deviceId: () => string | undefined): LoadedConfig {
  const section = (mcConfig as Record<string, unknown>).sannuo as Record<string, unknown> | undefined;
  if (!section || typeof section !== 'object') throw new Error('manifest config: "sannuo" section missing');
  // Several devices on one machine (lin, manifest sannuo.perDeviceState): each its own settings,
  // kept state and flash folder, all named from the manifest's id. A board of its own keeps the
  // fixed names, so a firmware update finds its outbox and settings where they were.
  const perDevice = section.perDeviceState === true;
  const manifestId = typeof section.id === 'string' ? section.id : deviceId();
  if (perDevice && !manifestId) throw new Error('manifest config: sannuo.perDeviceState needs sannuo.id');
  if (perDevice) useSettingsDomain(deviceDomain('sannuo', manifestId!));
  const saved = loadSettings();
  const raw: Record<string, unknown> = {};
  for (const key of DEVICE_CONFIG_KEYS) if (section[key] !== undefined && section[key] !== null) raw[key] = section[key];
  const broker = { ...(section.broker as object) } as Record<string, unknown>;
  if (saved.brokerHost !== undefined) broker.host = saved.brokerHost;
  if (saved.brokerPort !== undefined) broker.port = saved.brokerPort;
  if (saved.brokerTls !== undefined) broker.tls = saved.brokerTls;
  raw.broker = broker;
  for (const key of ['id', 'role', 'site', 'win', 'secret', 'rateTimeout', 'unsolicited', 'volume', 'idleText'] as const) {
    if (saved[key] !== undefined) raw[key] = saved[key];
  }
  raw.id ??= deviceId();
  const parsed = parseDeviceConfig(raw);
  if (Array.isArray(parsed)) throw new Error(`device config: ${parsed.map((p) => `${p.key}: ${p.message}`).join('; ')}`);

  const wifi = section.wifi as { ssid?: string; password?: string } | null | undefined;
  const ssid = saved.wifiSsid ?? wifi?.ssid;
  const password = saved.wifiPassword ?? wifi?.password;
  const fonts = section.fonts as DisplayFonts | undefined;
  if (!fonts || typeof fonts.number !== 'string' || typeof fonts.label !== 'string' || typeof fonts.small !== 'string') {
    throw new Error('manifest config: sannuo.fonts needs number, label and small resource names');
  }
  return {
    device: parsed,
    board: {
      wifi: ssid ? (password ? { ssid, password } : { ssid }) : null,
      flashDir: (typeof section.flashDir === 'string' ? section.flashDir : 'sannuo/') + (perDevice ? `${parsed.id}/` : ''),
      keysActiveLow: section.keysActiveLow !== false,
      battery: (section.battery as BatteryConfig | null | undefined) ?? null,
      fonts,
      caResource: typeof section.caResource === 'string' ? section.caResource : null,
      storageDomain: perDevice ? deviceDomain('snkeep', parsed.id) : KEEP_DOMAIN,
    },
  };
}

/** The file system root the platform's File module uses (e.g. "/" on littlefs, "/tmp/" on lin). */
export function fileRoot(): string {
  return mcConfig.file.root;
}
