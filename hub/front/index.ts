/**
 * The hall's front as features (hub/feature.ts): the ticket kiosk and the hall board with its
 * spoken calls. hub/hall.ts adds these factories to the hall's list.
 */

import { createHmac } from 'node:crypto';
import type { FeatureFactory } from '../feature.js';
import type { QueueService } from '../queue/service.js';
import type { HallHost } from '../host.js';
import { clustered } from '../settings.js';
import { Kiosk } from './kiosk.js';
import { Board } from './board.js';
import { UdpLed } from './led.js';

export interface FrontHall {
  queue: QueueService;
  ratingLink(ticketId: string): string;
  winOf(dev: string): string | undefined;
}

export function frontFeatures(host: HallHost, hall: () => FrontHall): FeatureFactory[] {
  const s = host.settings;
  const registry = clustered(s) ? undefined : host.metrics.registry;
  // The same key as the queue's lookup codes (hub/hall.ts mountRoutes), so the printed code opens the lookup.
  const ticketKey = new Uint8Array(createHmac('sha256', host.key).update('sannuo-ticket-code').digest());
  return [
    (d) => new Kiosk(d, { queue: hall().queue, hallName: s.hallName, ratingLink: (id) => hall().ratingLink(id), ticketKey, settings: s.front, registry }),
    (d) => new Board(d, {
      queue: hall().queue, hallName: s.hallName, settings: s.front, dataDir: s.data, winOf: (dev) => hall().winOf(dev), registry,
      led: s.front.led.host ? new UdpLed(s.front.led.host, s.front.led.port, (error) => d.log.warn({ err: error }, 'led: send failed')) : undefined,
    }),
  ];
}
