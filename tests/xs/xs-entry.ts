/**
 * The bundle's entry inside XS: exposes the scenario to the harness (tests/xs/run-xs.mjs).
 * xsnap hands back an ArrayBuffer returned by an evaluated expression, so every call returns
 * its JSON answer as UTF-8 bytes, errors included (XS would otherwise lose the stack).
 */

import { runScenario } from './scenario.js';
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

(globalThis as Record<string, unknown>).sannuoXs = Object.freeze({
  /** Which host globals the harness took away before this bundle ran. */
  prelude: () => answer(() => (globalThis as Record<string, unknown>).__prelude),
  scenario: () => answer(runScenario),
});
