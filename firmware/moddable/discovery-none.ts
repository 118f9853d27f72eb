/**
 * No HubFinder (lin): the lin build's broker is a fixed host (the manifest's 127.0.0.1), and a
 * `.local` one is left to the host's resolver. The ESP32's is discovery-mdns.ts.
 */
import type { HubFinder } from '../core/discovery.js';

export function createHubFinder(): HubFinder | undefined {
  return undefined;
}
