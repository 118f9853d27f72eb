/**
 * The hub announces itself on the hall's LAN over mDNS / DNS-SD (RFC 6762, 6763), through
 * bonjour-service: a `_sannuo._tcp` service named after settings discovery.name, whose SRV target
 * is <name>.local (answered with this machine's addresses) and whose TXT records carry the site
 * and the MQTT and HTTP ports. Devices whose broker host is sannuo-hub.local find it there
 * (firmware/core/discovery.ts); devices with a fixed host never ask. discovery.mdns false turns it off.
 *
 * Announcing is best effort: a LAN without multicast, or another hub already holding the name,
 * is logged (once) and the hub runs on; devices then need a fixed host.
 */

import { Bonjour, type Service } from 'bonjour-service';
import type { Logger } from 'pino';
import { HUB_SERVICE } from '../firmware/core/discovery.js';

export interface AnnounceOptions {
  /** The instance and host name (host: <name>.local). */
  name: string;
  site: string;
  /** The MQTT port devices connect to (the advertised one), and the TLS one if any. */
  mqttPort: number;
  mqttsPort: number | null;
  httpPort: number;
  log: Logger;
  /** The interface address to announce on (default: every one). */
  interface?: string;
}

/** How long the name probe takes (three probes 250 ms apart, RFC 6762 §8.1), and a margin. */
const PROBE_MS = 1_500; // milliseconds

export class HubAnnouncer {
  private bonjour: Bonjour | undefined;
  private service: Service | undefined;
  private checkTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: AnnounceOptions) {}

  start(): void {
    const log = this.o.log;
    let reported = false;
    const fail = (error: unknown) => {
      if (reported) return;
      reported = true;
      log.warn({ err: String((error as Error)?.message ?? error), name: this.o.name }, 'mDNS: cannot announce the hub; devices need a fixed broker host (mqtt.advertisedHost)');
    };
    try {
      this.bonjour = new Bonjour(this.o.interface ? { interface: this.o.interface } as never : undefined, fail);
      (this.bonjour as unknown as { server?: { mdns?: { on(event: string, listener: (e: unknown) => void): void } } }).server?.mdns?.on('error', fail);
      const txt: Record<string, string> = { v: '1', site: this.o.site, mqtt: String(this.o.mqttPort), http: String(this.o.httpPort) };
      if (this.o.mqttsPort) txt.mqtts = String(this.o.mqttsPort);
      this.service = this.bonjour.publish({ name: this.o.name, type: HUB_SERVICE.name, protocol: HUB_SERVICE.protocol, port: this.o.mqttPort, host: `${this.o.name}.local`, txt, disableIPv6: true });
      this.service.on('error', fail);
      // bonjour-service reports a name already taken only on the console: look for ourselves.
      this.checkTimer = setTimeout(() => {
        if (this.service?.published) log.info({ name: `${this.o.name}.local`, service: `_${HUB_SERVICE.name}._${HUB_SERVICE.protocol}`, site: this.o.site, mqtt: this.o.mqttPort, http: this.o.httpPort }, 'mDNS: hub announced');
        else fail(new Error(`the name ${this.o.name} is taken on the network, or the probe got no further`));
      }, PROBE_MS);
      this.checkTimer.unref();
    } catch (error) {
      fail(error);
    }
  }

  /** Says goodbye (TTL 0 records) and closes the socket. */
  async stop(): Promise<void> {
    if (this.checkTimer) clearTimeout(this.checkTimer);
    const bonjour = this.bonjour;
    this.bonjour = undefined;
    if (!bonjour) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1_000);
      try {
        bonjour.unpublishAll(() => { clearTimeout(timer); resolve(); });
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
    try {
      bonjour.destroy();
    } catch {
      // already closed
    }
    (bonjour as unknown as { server?: { mdns?: { destroy(): void } } }).server?.mdns?.destroy();
  }
}
