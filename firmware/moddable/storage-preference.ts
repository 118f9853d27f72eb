/**
 * Storage (firmware/core/hardware.ts) on Moddable's Preference: NVS on the ESP32, atomic and
 * wear-levelled. Its own domain, apart from the settings in settings.ts, so the settings loader
 * never sees these keys. Preference's limits (keys and domains ≤ 15 characters, values ≤ 4000
 * bytes) are checked before writing, with the same rule the simulator applies.
 */
import Preference from 'preference';
import { storageProblem, type Storage } from '../core/hardware.js';

/** The default domain, on a board of its own (≤ 15 characters). */
export const KEEP_DOMAIN = 'sannuo-keep';

export class PreferenceStorage implements Storage {
  constructor(private readonly domain: string = KEEP_DOMAIN) {}

  get(key: string): string | undefined {
    const value = Preference.get(this.domain, key);
    // A value of another type (another firmware's layout) is not ours to trust.
    return typeof value === 'string' ? value : undefined;
  }

  set(key: string, value: string): void {
    const problem = storageProblem(key, value);
    if (problem) throw new Error(problem);
    Preference.set(this.domain, key, value);
  }
}
