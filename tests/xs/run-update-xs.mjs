#!/usr/bin/env node
/**
 * Runs tests/xs/update-scenario.ts inside XS through @agoric/xsnap (a process of its own, as
 * run-xs.mjs explains) with only the ECMAScript globals, and prints its transcript as JSON.
 */

import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// As run-xs.mjs: every host global xsnap adds is taken away before the bundle runs.
const PRELUDE = `
  (() => {
    const keep = new Set(['globalThis', 'Infinity', 'NaN', 'undefined', 'eval', 'isFinite', 'isNaN', 'parseFloat', 'parseInt',
      'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'unescape', 'AggregateError', 'Array',
      'ArrayBuffer', 'Atomics', 'BigInt', 'BigInt64Array', 'BigUint64Array', 'Boolean', 'DataView', 'Date', 'Error', 'EvalError',
      'FinalizationRegistry', 'Float16Array', 'Float32Array', 'Float64Array', 'Function', 'Int8Array', 'Int16Array', 'Int32Array',
      'Iterator', 'JSON', 'Map', 'Math', 'Number', 'Object', 'Promise', 'Proxy', 'RangeError', 'ReferenceError', 'Reflect', 'RegExp',
      'Set', 'SharedArrayBuffer', 'String', 'Symbol', 'SyntaxError', 'TypeError', 'Uint8Array', 'Uint8ClampedArray', 'Uint16Array',
      'Uint32Array', 'URIError', 'WeakMap', 'WeakRef', 'WeakSet', 'DisposableStack', 'AsyncDisposableStack', 'SuppressedError']);
    for (const name of Object.getOwnPropertyNames(globalThis)) if (!keep.has(name)) delete globalThis[name];
  })();
`;

async function main() {
  const bundle = (await build({
    entryPoints: [path.join(root, 'tests/xs/update-xs-entry.ts')], bundle: true, write: false, format: 'iife',
    platform: 'neutral', mainFields: ['module', 'main'], target: 'es2022', legalComments: 'none', logLevel: 'silent',
  })).outputFiles[0].text;
  await import('@endo/init');
  const { xsnap } = await import('@agoric/xsnap');
  const worker = await xsnap({ os: os.type(), spawn, fs: {}, name: 'sannuo-update', meteringLimit: 0 });
  try {
    await worker.evaluate(PRELUDE);
    await worker.evaluate(bundle);
    const t0 = Date.now();
    const { reply } = await worker.evaluate('sannuoUpdate()');
    const parsed = JSON.parse(new TextDecoder().decode(reply));
    if (!parsed.ok) throw new Error(`XS: ${parsed.error}\n${parsed.stack}`);
    process.stderr.write(`xs update scenario: bundle ${Buffer.byteLength(bundle)} B, ${Date.now() - t0} ms in XS (ed25519 sign and verify in plain JavaScript)\n`);
    process.stdout.write(JSON.stringify(parsed.value) + '\n');
  } finally {
    await worker.close().catch(() => worker.terminate());
  }
}

main().catch((error) => {
  process.stderr.write(`run-update-xs: ${error?.stack ?? error}\n`);
  process.exit(1);
});
