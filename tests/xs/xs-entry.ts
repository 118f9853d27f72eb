/**
 * The bundle's entry inside XS: exposes the scenario to the harness (tests/xs/run-xs.mjs).
 * xsnap hands back an ArrayBuffer returned by an evaluated expression, so every call returns
 * its JSON answer as UTF-8 bytes, errors included (XS would otherwise lose the stack).
 */

import { runScenario, Soak } from './scenario.js';
import { utf8Encode } from '../../firmware/core/utf8.js';

function answer(run: () => unknown): ArrayBuffer {
  let body: unknown;
  try {
    body = { ok: true, value: run() };
  } catch (error) {
    body = { ok: false, error: String(error), stack: String((error as Error)?.stack ?? '') };
  }
  return utf8Encode(JSON.stringify(body)).buffer as ArrayBuffer;
}

let soak: Soak | undefined;

(globalThis as Record<string, unknown>).sannuoXs = Object.freeze({
  /** Which host globals the harness took away before this bundle ran. */
  prelude: () => answer(() => (globalThis as Record<string, unknown>).__prelude),
  scenario: () => answer(runScenario),
  /** The memory soak: start once, then run events in chunks; the harness samples the heap between. */
  soakStart: () => answer(() => {
    soak = new Soak();
    return soak.figures();
  }),
  soakRun: (count: number) => answer(() => soak!.run(count)),
  soakDrain: () => answer(() => soak!.drain()),
});
