/** The desktop simulator uses the host's network, which is up from the start. */
import type { Network, NetworkEvents } from './network.js';

export class HostNetwork implements Network {
  start(events: NetworkEvents): void {
    events.onUp();
  }

  rssi(): number {
    return 0;
  }
}
