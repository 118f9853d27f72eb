/** Clock on the XS Date: the device's own clock; the core applies the hub's offset itself. */
import type { Clock } from '../core/hardware.js';

export class DateClock implements Clock {
  now(): number {
    return Date.now();
  }
}
