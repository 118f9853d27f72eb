#!/usr/bin/env node
/**
 * Runs tests/xs/scenario.ts inside XS, Moddable's engine, through @agoric/xsnap, and prints
 * one JSON document on stdout: bundle sizes, the host globals taken away, the transcript and
 * the memory soak figures. Human-readable figures go to stderr.
 *
 * It is its own process because @endo/init (which xsnap needs) hardens the built-ins of the
 * process that imports it; jest's workers must stay unhardened.
 *
 *   node tests/xs/run-xs.mjs [--soak 10000]
 */

import { spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

const args = process.argv.slice(2);
const soakIndex = args.indexOf('--soak');
const soakEvents = soakIndex >= 0 ? Number(args[soakIndex + 1]) : 10_000;
if (!Number.isInteger(soakEvents) || soakEvents < 0) {
  process.stderr.write(`--soak: expected a whole number of events, got ${args[soakIndex + 1]}\n`);
  process.exit(2);
}

/**
 * What XS on an ESP32 offers: the ECMAScript globals. xsnap adds host globals (print,
 * TextEncoder, setImmediate, performance, harden, Compartment, …); the harness takes
 * everything else away before the bundle runs, so firmware/core leaning on a host global
 * fails here as it would on the device.
 */
const ECMASCRIPT_GLOBALS = new Set([
  'globalThis', 'Infinity', 'NaN', 'undefined', 'eval', 'isFinite', 'isNaN', 'parseFloat', 'parseInt',
  'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'unescape',
  'AggregateError', 'Array', 'ArrayBuffer', 'Atomics', 'BigInt', 'BigInt64Array', 'BigUint64Array',
  'Boolean', 'DataView', 'Date', 'Error', 'EvalError', 'FinalizationRegistry', 'Float16Array',
  'Float32Array', 'Float64Array', 'Function', 'Int8Array', 'Int16Array', 'Int32Array', 'Iterator',
  'JSON', 'Map', 'Math', 'Number', 'Object', 'Promise', 'Proxy', 'RangeError', 'ReferenceError',
  'Reflect', 'RegExp', 'Set', 'SharedArrayBuffer', 'String', 'Symbol', 'SyntaxError', 'TypeError',
  'Uint8Array', 'Uint8ClampedArray', 'Uint16Array', 'Uint32Array', 'URIError', 'WeakMap',
  'WeakRef', 'WeakSet', 'DisposableStack', 'AsyncDisposableStack', 'SuppressedError',
]);

const PRELUDE = `
  globalThis.__host = Object.freeze({ gc: globalThis.gc });
  (() => {
    const keep = new Set(${JSON.stringify([...ECMASCRIPT_GLOBALS, '__host'])});
    const removed = [], stuck = [];
    for (const name of Object.getOwnPropertyNames(globalThis)) {
      if (keep.has(name)) continue;
      if (delete globalThis[name]) removed.push(name); else stuck.push(name);
    }
    globalThis.__prelude = { removed, stuck };
  })();
`;

async function bundle(entry, minify) {
  const result = await build({
    entryPoints: [path.join(root, entry)],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2022',
    minify,
    legalComments: 'none',
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

const bytes = (text) => Buffer.byteLength(text, 'utf8');

/** XS slot size on a 64-bit host (txSlot: next pointer, flags, kind, value); 16 bytes on the ESP32. */
const SLOT_BYTES = 32;

/**
 * Rates `events` services in XS and samples the heap after a full collection at 0, 1k, 5k and
 * the end. Live slots after gc() are what the program holds: a leak of even one object per
 * event shows as thousands of slots between the 1k and the last sample.
 */
async function soak(call, worker, events) {
  const sampleAt = [...new Set([1_000, 5_000, events].filter((n) => n <= events))];
  const samples = [];
  const sample = async (figures, ms) => {
    const { meterUsage } = await call('__host.gc()');
    // A snapshot is the whole live heap, slots and chunks (strings, buffers): it catches a leak
    // that grows one big string or buffer, which the slot count alone would miss.
    let snapshotBytes = 0;
    for await (const chunk of worker.makeSnapshotStream('soak')) snapshotBytes += chunk.length;
    samples.push({ ...figures, heapSlots: meterUsage.currentHeapCount, snapshotBytes, ms });
  };
  const t0 = Date.now();
  await sample((await call('sannuoXs.soakStart()')).value, 0);
  let done = 0;
  const CHUNK = 500;
  for (const target of sampleAt) {
    let figures;
    while (done < target) {
      const count = Math.min(CHUNK, target - done);
      figures = (await call(`sannuoXs.soakRun(${count})`)).value;
      done += count;
    }
    await sample(figures, Date.now() - t0);
  }
  const final = (await call('sannuoXs.soakDrain()')).value;
  const ms = Date.now() - t0;
  const first = samples[1] ?? samples[0];
  const last = samples[samples.length - 1];
  return {
    events, ms, samples, final,
    growthSlots: last.heapSlots - first.heapSlots,
    growthSnapshotBytes: last.snapshotBytes - first.snapshotBytes,
  };
}

async function main() {
  const started = Date.now();
  // Bundle before @endo/init hardens this process; a Node import in firmware/core fails here.
  const scenarioJs = await bundle('tests/xs/xs-entry.ts', false);
  const scenarioMin = await bundle('tests/xs/xs-entry.ts', true);
  const sizes = { scenario: { bytes: bytes(scenarioJs), minified: bytes(scenarioMin) } };
  if (existsSync(path.join(root, 'firmware/core/index.ts'))) {
    const core = await bundle('firmware/core/index.ts', false);
    const coreMin = await bundle('firmware/core/index.ts', true);
    sizes.core = { bytes: bytes(core), minified: bytes(coreMin) };
  }

  await import('@endo/init');
  const { xsnap } = await import('@agoric/xsnap');
  let stderr = '';
  const worker = await xsnap({
    os: os.type(),
    spawn: (bin, argv, opts) => {
      const child = spawn(bin, argv, { ...opts, stdio: opts.stdio.map((s, i) => (i === 2 ? 'pipe' : s)) });
      child.stderr.on('data', (chunk) => { stderr += chunk; });
      return child;
    },
    fs: {},
    name: 'sannuo-core',
    // One evaluation runs thousands of HMACs; the default crank limit is for Agoric's vats.
    meteringLimit: 0,
  });

  const decoder = new TextDecoder();
  const call = async (expression) => {
    const { reply, meterUsage } = await worker.evaluate(expression);
    const text = decoder.decode(reply);
    if (!text) return { value: undefined, meterUsage };
    const parsed = JSON.parse(text);
    if (!parsed.ok) throw new Error(`XS: ${expression}: ${parsed.error}\n${parsed.stack}`);
    return { value: parsed.value, meterUsage };
  };

  try {
    await worker.evaluate(PRELUDE);
    await worker.evaluate(scenarioJs);
    const prelude = (await call('sannuoXs.prelude()')).value;

    const t0 = Date.now();
    const transcript = (await call('sannuoXs.scenario()')).value;
    const scenarioMs = Date.now() - t0;

    const report = { bundles: sizes, prelude, transcript, scenarioMs };
    if (soakEvents > 0) report.soak = await soak(call, worker, soakEvents);
    report.totalMs = Date.now() - started;

    process.stderr.write(
      `xs: scenario bundle ${sizes.scenario.bytes} B (minified ${sizes.scenario.minified} B)`
      + (sizes.core ? `, firmware/core ${sizes.core.bytes} B (minified ${sizes.core.minified} B)` : '')
      + `; host globals removed: ${prelude.removed.join(', ') || 'none'}`
      + `; scenario ${scenarioMs} ms in XS\n`,
    );
    if (report.soak) {
      const rows = report.soak.samples.map((s) => `  ${String(s.events).padStart(6)} events: ${String(s.heapSlots).padStart(7)} live slots`
        + ` (${Math.round((s.heapSlots * SLOT_BYTES) / 1024)} KiB), heap snapshot ${s.snapshotBytes} B,`
        + ` outbox ${s.pending} pending / ${s.outboxBytes} B, timers ${s.timers}, ${s.ms} ms`);
      process.stderr.write(`xs soak: ${report.soak.events} ratings through pad → outbox → uplink → acks;`
        + ` committed ${report.soak.final.committed}, duplicates ${report.soak.final.duplicates}, gaps ${report.soak.final.gaps},`
        + ` ${(report.soak.ms / report.soak.events).toFixed(2)} ms/event in XS\n${rows.join('\n')}\n`
        + `  growth from ${report.soak.samples[1]?.events ?? '?'} to ${report.soak.events} events: ${report.soak.growthSlots} slots,`
        + ` ${report.soak.growthSnapshotBytes} snapshot bytes\n`);
    }
    process.stdout.write(JSON.stringify(report) + '\n');
  } finally {
    await worker.close().catch(() => worker.terminate());
    if (stderr.trim()) process.stderr.write(`xsnap stderr: ${stderr}\n`);
  }
}

main().catch((error) => {
  process.stderr.write(`run-xs: ${error?.stack ?? error}\n`);
  process.exit(1);
});
