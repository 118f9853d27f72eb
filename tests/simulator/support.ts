/** Test support: an in-process hub (support/hub.ts) whose clock is the simulation's VirtualTime. */

import type { Db } from '../../hub/db/db.js';
import { VirtualTime } from '../../simulator/virtual-time.js';
import type { CitizenPress } from '../../simulator/hall.js';
import { startHub, type HubFixture } from '../../support/hub.js';

/** `token`: the hub's start-up API token (role supervisor), for the simulator's set-up calls. */
export type TestHub = HubFixture;

export function startVirtualHub(time: VirtualTime, site = 'site1', hall = 'hall1'): Promise<TestHub> {
  return startHub({ site, hall, 'log.level': 'silent' }, undefined, { now: () => time.now() });
}

export interface LedgerRating { number: string | null; win: string; level: number; reason: string | null; bound: string; dev: string; boot: number; seq: number }

/** Every rating row of the ledger. */
export async function ledgerRatings(db: Db): Promise<LedgerRating[]> {
  const rows = await db.all<{ body: string }>(`SELECT body FROM ledger WHERE kind = 'rating' ORDER BY "row"`);
  return rows.map((r) => {
    const b = JSON.parse(r.body) as LedgerRating;
    return { number: b.number, win: b.win, level: b.level, reason: b.reason, bound: b.bound, dev: b.dev, boot: Number(b.boot), seq: Number(b.seq) };
  });
}

/** The ledger's device events as a sorted list of (device, boot, seq, type, body) strings, as recorded. */
export async function ledgerContent(db: Db): Promise<string[]> {
  // Rating-request ids are <ticket id>-<n> (hub/queue/service.ts), so no id needs mapping.
  const rows = await db.all<{ dev: string; boot: number; seq: number; body: string }>(`SELECT dev, boot, seq, body FROM ledger WHERE kind = 'event'`);
  return rows.map((r) => {
    const e = JSON.parse(r.body) as { type: string; body: Record<string, unknown> };
    return JSON.stringify([r.dev, Number(r.boot), Number(r.seq), e.type, e.body]);
  }).sort();
}

/** Presses the pads took, as ticket → "level/reason". */
export function pressedByTicket(presses: CitizenPress[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of presses) if (p.taken) out.set(p.ticket, `${p.level}/${p.reason}`);
  return out;
}
