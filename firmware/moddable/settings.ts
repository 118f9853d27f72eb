/**
 * Settings kept in Preference (NVS on the ESP32: keys ≤ 15 characters, values ≤ 4000 bytes):
 * what provisioning sets on the device (id, secret, Wi-Fi, broker) and what the hub's config
 * command changes later. They override the manifest's config section at boot.
 */
import Preference from 'preference';

/** The settings' Preference domain: 'sannuo' on a board of its own; per device where several share one machine (useSettingsDomain). */
let DOMAIN = 'sannuo';

/** Before the first load: the domain of this device's settings (≤ 15 characters). */
export function useSettingsDomain(domain: string): void {
  DOMAIN = domain;
}

/** Preference key (≤ 15 characters) for each setting, and the type it holds. */
const KEYS = {
  id: ['id', 'string'],
  role: ['role', 'string'],
  site: ['site', 'string'],
  win: ['win', 'string'],
  secret: ['secret', 'string'],
  brokerHost: ['brokerHost', 'string'],
  brokerPort: ['brokerPort', 'number'],
  brokerTls: ['brokerTls', 'boolean'],
  rateTimeout: ['rateTimeout', 'number'],
  unsolicited: ['unsolicited', 'string'],
  volume: ['volume', 'number'],
  idleText: ['idleText', 'string'],
  wifiSsid: ['wifiSsid', 'string'],
  wifiPassword: ['wifiPass', 'string'],
} as const;
export type SettingName = keyof typeof KEYS;
export type Settings = { [K in SettingName]?: (typeof KEYS)[K][1] extends 'number' ? number : (typeof KEYS)[K][1] extends 'boolean' ? boolean : string };

export function loadSettings(): Settings {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(KEYS) as SettingName[]) {
    const [key, type] = KEYS[name];
    const value = Preference.get(DOMAIN, key);
    if (value === undefined) continue;
    // A value of the wrong type (an older firmware's layout) is ignored, not trusted.
    if (typeof value === type) out[name] = value;
    else trace(`settings: ignoring ${key}: expected a ${type}\n`);
  }
  return out as Settings;
}

/** Writes only what changed: NVS wears, and the hub may resend the same config. */
export function saveSettings(changes: Settings): void {
  for (const name of Object.keys(changes) as SettingName[]) {
    const value = changes[name];
    const [key] = KEYS[name];
    if (value === undefined || value === null) continue;
    if (Preference.get(DOMAIN, key) !== value) Preference.set(DOMAIN, key, value);
  }
}

export function clearSetting(name: SettingName): void {
  Preference.delete(DOMAIN, KEYS[name][0]);
}
