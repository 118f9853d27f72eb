/**
 * Storage (firmware/core/hardware.ts) on Moddable's Preference: NVS on the ESP32, atomic and
 * wear-levelled. Its own domain, apart from the settings in settings.ts, so the settings loader
 * never sees these keys. Preference's limits (keys and domains ≤ 15 characters, values ≤ 4000
 * bytes) are checked before writing, with the same rule the simulator applies.
 */
import Preference from 'preference';
import { storageProblem, type Storage } from '../core/hardware.js';

const DOMAIN = 'sannuo-keep'; // ≤ 15 characters

export class PreferenceStorage implements Storage {
  get(key: string): string | undefined {
    const value = Preference.get(DOMAIN, key);
    // A value of another type (another firmware's layout) is not ours to trust.
    return typeof value === 'string' ? value : undefined;
  }

  set(key: string, value: string): void {
    const problem = storageProblem(key, value);
    if (problem) throw new Error(problem);
    Preference.set(DOMAIN, key, value);
  }
}
