/**
 * Finding the hub on the hall's LAN. The hub announces a DNS-SD service `_sannuo._tcp` (mDNS,
 * RFC 6762/6763) on the host name sannuo-hub.local, with TXT records naming its site and its
 * MQTT and HTTP ports (hub/discovery.ts). A device whose broker host ends in `.local` asks a
 * HubFinder (Moddable's mdns module on the ESP32: firmware/moddable/discovery-mdns.ts); any other
 * host (an address, a DNS name) is used as it is, so a fixed host stays possible.
 * ECMAScript built-ins only: runs in XS.
 */

import type { BrokerConfig } from './config.js';

/** The DNS-SD service type, as Moddable's MDNS names it (`_<name>._<protocol>`). */
export const HUB_SERVICE = { name: 'sannuo', protocol: 'tcp' } as const;
export const HUB_SERVICE_TYPE = `_${HUB_SERVICE.name}._${HUB_SERVICE.protocol}`;

/** One announced instance: its A record's address, the SRV target and port, and TXT as "key=value" strings. */
export interface HubInstance {
  name: string;
  address: string;
  port: number;
  target?: string;
  txt: readonly string[];
}

/** Where the device's MQTT client connects. */
export interface HubAddress {
  host: string;
  port: number;
  /** The hub's HTTP port, when it announced one. */
  http: number | null;
}

/** Watches the LAN for hub instances; calls `found` for each one seen (again when it changes). */
export interface HubFinder {
  start(found: (instance: HubInstance) => void): void;
  stop(): void;
}

/** True when the broker host is a link-local mDNS name that needs a HubFinder. */
export function needsDiscovery(host: string): boolean {
  return /\.local\.?$/i.test(host);
}

/** TXT strings ("site=hall1") as a record; malformed entries are skipped. */
export function parseTxt(txt: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of txt) {
    const eq = String(entry).indexOf('=');
    if (eq > 0) out[String(entry).slice(0, eq).toLowerCase()] = String(entry).slice(eq + 1);
  }
  return out;
}

/**
 * Whether `instance` is this device's hub: the SRV target is the configured host name (or the
 * instance is named after it), and its TXT site, when it has one, is the device's site. Answers
 * the address to connect to, or null.
 */
export function matchHub(instance: HubInstance, broker: BrokerConfig, site: string): HubAddress | null {
  const wanted = broker.host.replace(/\.$/, '').toLowerCase();
  const label = wanted.replace(/\.local$/, '');
  const target = (instance.target ?? '').replace(/\.$/, '').toLowerCase();
  if (target !== wanted && instance.name.toLowerCase() !== label) return null;
  const txt = parseTxt(instance.txt);
  if (txt.site !== undefined && txt.site !== site) return null;
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(instance.address)) return null;
  const mqtt = Number(broker.tls ? txt.mqtts : txt.mqtt);
  const http = Number(txt.http);
  return {
    host: instance.address,
    port: Number.isInteger(mqtt) && mqtt > 0 && mqtt < 65536 ? mqtt : broker.port,
    http: Number.isInteger(http) && http > 0 && http < 65536 ? http : null,
  };
}

/**
 * Resolves the broker: a fixed host at once; a `.local` one through the finder, the first
 * instance that matches. Calls `done` once.
 */
export function resolveBroker(broker: BrokerConfig, site: string, finder: HubFinder | undefined, done: (address: HubAddress) => void): void {
  if (!needsDiscovery(broker.host) || !finder) {
    done({ host: broker.host, port: broker.port, http: null });
    return;
  }
  let settled = false;
  finder.start((instance) => {
    if (settled) return;
    const address = matchHub(instance, broker, site);
    if (!address) return;
    settled = true;
    finder.stop();
    done(address);
  });
}
