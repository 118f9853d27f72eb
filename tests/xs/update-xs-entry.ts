/** The update scenario's entry inside XS: its transcript as UTF-8 JSON bytes (errors included). */
import { runUpdateScenario } from './update-scenario.js';
import { utf8Encode } from '../../firmware/core/utf8.js';

(globalThis as Record<string, unknown>).sannuoUpdate = () => {
  let body: unknown;
  try {
    body = { ok: true, value: runUpdateScenario() };
  } catch (error) {
    body = { ok: false, error: String(error), stack: String((error as Error)?.stack ?? '') };
  }
  return utf8Encode(JSON.stringify(body)).buffer as ArrayBuffer;
};
