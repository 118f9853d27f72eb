/** A display for a board without a screen: each view as one trace line, for the serial log. */
import type { Display, View } from '../core/hardware.js';

export class TraceDisplay implements Display {
  render(view: View): void {
    trace(`display: ${JSON.stringify(view)}\n`);
  }
}
