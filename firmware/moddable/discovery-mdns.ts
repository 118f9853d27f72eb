/**
 * The HubFinder (firmware/core/discovery.ts) on Moddable's mdns module: monitors `_sannuo._tcp`,
 * and reports each instance once it has its SRV target, TXT and A address (Moddable's MDNS calls
 * back only then). No host name of our own: the device only asks.
 */
import MDNS from 'mdns';
import { HUB_SERVICE_TYPE, type HubFinder, type HubInstance } from '../core/discovery.js';

type Seen = { name: string; port: number; target?: string; address?: string; txt?: string[] };

export class MdnsHubFinder implements HubFinder {
  private mdns: MDNS | undefined;

  start(found: (instance: HubInstance) => void): void {
    this.mdns = new MDNS({ hostName: '' });
    this.mdns.monitor(HUB_SERVICE_TYPE, (_service, instance) => {
      const seen = instance as unknown as Seen;
      if (!seen.address) return;
      found({ name: seen.name, address: seen.address, port: seen.port, target: seen.target, txt: seen.txt ?? [] });
    });
  }

  stop(): void {
    const mdns = this.mdns as unknown as { close?: () => void } | undefined;
    this.mdns = undefined;
    mdns?.close?.();
  }
}

/** The platform's finder (manifest module moddable/hub-finder; lin's is discovery-none.ts). */
export function createHubFinder(): HubFinder | undefined {
  return new MdnsHubFinder();
}
