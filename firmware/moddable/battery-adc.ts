/** Battery percent from a resistor divider on an ECMA-419 analog input (ESP32 ADC). */
import Analog from 'embedded:io/analog';

export interface BatteryConfig {
  pin: number;
  /** Divider ratio: battery volts per volt at the pin, e.g. 2 for two equal resistors. */
  ratio: number;
  /** ADC full-scale input in millivolts (about 3100 on an ESP32 at 11 dB attenuation). */
  fullScale: number;
  /** Cell voltage that counts as 100 % and as 0 %, millivolts. */
  full: number;
  empty: number;
}

export class AdcBattery {
  readonly #input: Analog;
  readonly #config: BatteryConfig;

  constructor(config: BatteryConfig) {
    if (!(config.full > config.empty)) throw new Error('battery: "full" must be above "empty"');
    this.#config = config;
    this.#input = new Analog({ pin: config.pin });
  }

  percent(): number {
    const c = this.#config;
    const millivolts = (this.#input.read() / ((1 << this.#input.resolution) - 1)) * c.fullScale * c.ratio;
    const percent = Math.round(((millivolts - c.empty) / (c.full - c.empty)) * 100);
    return Math.min(100, Math.max(0, percent));
  }
}
