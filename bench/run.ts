/**
 * Runs every benchmark, one child process at a time, and writes bench/RESULTS.md: the machine,
 * the date, the commit, and each figure beside the baseline measured in the same run, with its
 * bar and by how much it is met or missed. Never part of `npm test`.
 *
 *   npm run bench                         # everything
 *   npm run bench -- --only ingest,storm  # some
 *   npm run bench -- --tree head          # hub processes run from a snapshot of the last commit
 *
 * Each benchmark is a script that bounds its own load and time, writes progress to stderr and
 * prints its figures as one JSON line on stdout (bench/support/result.ts). Scripts that print
 * only text (bench/ledger.ts, bench/report.ts) are read by the parsers below. A benchmark that
 * does not exist yet is listed as missing; one that fails or runs past its limit is reported
 * with the end of its output, and the others still run.
 */

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { passes, type BenchResult, type Figure } from './support/result.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OPEN_FILES = 20_000;

interface Bench {
  name: string;
  file: string;
  args?: string[];
  /** ms before the run is stopped. */
  limit: number;
  needsPostgres?: boolean;
  /** For scripts that print text rather than a JSON line. */
  parse?: (stdout: string, args: string[]) => BenchResult | undefined;
  owner: string;
}

const MINUTE = 60_000;

function parseLedger(stdout: string): BenchResult | undefined {
  const figures: Figure[] = [];
  for (const m of stdout.matchAll(/^(sqlite|postgres): (\d+) rows \| append ([\d.]+) s \((\d+) rows\/s\) \| checkpoint ([\d.]+) ms \| verify ([\d.]+) s/gm)) {
    const store = m[1] === 'sqlite' ? 'SQLite' : 'PostgreSQL';
    figures.push({ name: `${store}: ledger verify, ${Number(m[2]).toLocaleString('en')} rows`, value: Number(m[6]), unit: 's', bar: { op: '<', limit: 10, text: '< 10 s' }, note: `append ${m[3]} s (${m[4]} rows/s), checkpoint ${m[5]} ms` });
  }
  return figures.length ? { bench: 'ledger', title: 'Ledger verify over 1,000,000 rows', figures } : undefined;
}

function parseReport(stdout: string): BenchResult | undefined {
  const m = /monthly report over (\d+) ratings \/ (\d+) services \((\w+)\): ([\d, ]+) ms; best (\d+) ms/.exec(stdout);
  if (!m) return undefined;
  const store = m[3] === 'sqlite' ? 'SQLite' : 'PostgreSQL';
  return {
    bench: 'report', title: 'Monthly report over 1,000,000 ratings',
    figures: [{ name: `${store}: monthly report, ${Number(m[1]).toLocaleString('en')} ratings (best of runs)`, value: Number(m[5]) / 1000, unit: 's', bar: { op: '<', limit: 1, text: '< 1 s' }, note: `runs ${m[4]} ms` }],
  };
}

/** bench/sim-10k.ts prints one JSON line of its own shape. */
function parseSim(stdout: string): BenchResult | undefined {
  for (const line of stdout.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    let j: Record<string, number>;
    try { j = JSON.parse(line) as Record<string, number>; } catch { continue; }
    if (typeof j.devices !== 'number' || typeof j.heapPerDeviceKiB !== 'number') continue;
    return {
      bench: 'sim-10k', title: `${j.devices.toLocaleString('en')} simulated devices (firmware core on Node)`,
      figures: [
        { name: 'JS heap per device', value: j.heapPerDeviceKiB, unit: 'KiB' },
        { name: 'RSS per device', value: j.rssPerDeviceKiB, unit: 'KiB' },
        { name: 'all connected', value: j.allConnectedSeconds, unit: 's' },
        { name: 'all online at the hub', value: j.allOnlineAtHubSeconds, unit: 's' },
      ],
      config: { devices: j.devices, 'heap total MiB': j.heapTotalMiB },
    };
  }
  return undefined;
}

const BENCHES: Bench[] = [
  { name: 'ingest', file: 'bench/ingest.ts', limit: 15 * MINUTE, owner: 'bench' },
  { name: 'call-latency', file: 'bench/call-latency.ts', limit: 10 * MINUTE, owner: 'bench' },
  { name: 'storm', file: 'bench/storm.ts', limit: 15 * MINUTE, owner: 'bench' },
  { name: 'sim-10k', file: 'bench/sim-10k.ts', limit: 15 * MINUTE, parse: parseSim, owner: 'simulator engineer' },
  { name: 'ledger', file: 'bench/ledger.ts', limit: 30 * MINUTE, parse: parseLedger, owner: 'storage engineer' },
  { name: 'report-sqlite', file: 'bench/report.ts', args: ['--db', 'sqlite'], limit: 20 * MINUTE, parse: parseReport, owner: 'app engineer' },
  { name: 'report-postgres', file: 'bench/report.ts', args: ['--db', '$POSTGRES'], limit: 20 * MINUTE, parse: parseReport, needsPostgres: true, owner: 'app engineer' },
  { name: 'two-hubs', file: 'bench/two-hubs.ts', limit: 15 * MINUTE, owner: 'multi-hub engineer' },
  { name: 'announce-latency', file: 'bench/announce-latency.ts', limit: 10 * MINUTE, owner: 'front engineer' },
];

interface Outcome { bench: Bench; status: 'ok' | 'missing' | 'failed' | 'timeout' | 'skipped'; result?: BenchResult; seconds: number; tail?: string }

async function runOne(bench: Bench, env: NodeJS.ProcessEnv, postgres: () => Promise<string>): Promise<Outcome> {
  const file = path.join(REPO, bench.file);
  if (!fs.existsSync(file)) return { bench, status: 'missing', seconds: 0 };
  const args = await Promise.all((bench.args ?? []).map(async (a) => (a === '$POSTGRES' ? postgres() : a)));
  const quoted = [process.execPath, '--import', 'tsx', file, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  process.stderr.write(`\n=== ${bench.name} (${bench.file}${args.length ? ' ' + args.join(' ') : ''}), at most ${bench.limit / MINUTE} min\n`);
  const started = Date.now();
  // Its own process group, so a run past its limit is stopped with every process it started.
  const child = spawn('bash', ['-c', `ulimit -n ${OPEN_FILES} && exec ${quoted}`], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let tail = '';
  let pending = '';
  const keep = (text: string) => { tail = (tail + text).slice(-4000); };
  child.stdout!.on('data', (d: Buffer) => {
    const text = d.toString();
    stdout += text;
    keep(text);
    pending += text;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (!line.startsWith('{')) process.stderr.write(`  ${line}\n`);
  });
  child.stderr!.on('data', (d: Buffer) => { keep(d.toString()); process.stderr.write(d); });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
    setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 15_000).unref();
  }, bench.limit);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const seconds = (Date.now() - started) / 1000;
  let result: BenchResult | undefined;
  for (const line of stdout.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as BenchResult;
      if (parsed && typeof parsed === 'object' && Array.isArray(parsed.figures)) { result = parsed; break; }
    } catch { /* not ours */ }
  }
  result ??= bench.parse?.(stdout, args);
  if (timedOut) return { bench, status: 'timeout', result, seconds, tail };
  if (code !== 0 || !result) return { bench, status: 'failed', result, seconds, tail: tail + (result ? '' : '\n(no figures found in its output)') };
  return { bench, status: 'ok', result, seconds };
}

// ------------------------------------------------------------------ the machine

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).trim();
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return (e.stdout || e.stderr || '').toString().trim();
  }
}

function machine(tree: string): [string, string][] {
  const cpus = os.cpus();
  const pkg = (name: string) => { try { return (JSON.parse(fs.readFileSync(path.join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version; } catch { return '?'; } };
  const commit = tryRun('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']);
  const dirty = tryRun('git', ['-C', REPO, 'status', '--porcelain', '--untracked-files=no', '--', 'hub', 'firmware/core']).split('\n').filter(Boolean).length;
  return [
    ['CPU', `${cpus[0]?.model ?? '?'} × ${cpus.length}`],
    ['Memory', `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ['OS', `${os.type()} ${os.release()} (${os.arch()})`],
    ['Node', process.version],
    ['Mosquitto', tryRun('/usr/sbin/mosquitto', ['-h']).split('\n')[0] || 'not found'],
    ['PostgreSQL', tryRun(path.join(process.env.SANNUO_PG_BIN ?? '/usr/lib/postgresql/15/bin', 'postgres'), ['--version']) || 'not found'],
    ['Libraries', `aedes ${pkg('aedes')}, mqtt ${pkg('mqtt')}, better-sqlite3 ${pkg('better-sqlite3')}, pg ${pkg('pg')}`],
    ['Commit', `${commit}${tree === 'head' ? ' (hub run from a snapshot of this commit)' : dirty ? ` + uncommitted changes in ${dirty} hub/firmware file(s) (working tree)` : ''}`],
  ];
}

// ------------------------------------------------------------------ RESULTS.md

function fmt(value: number, unit: string): string {
  const v = Math.abs(value) >= 1000 ? Math.round(value).toLocaleString('en') : String(Number(value.toPrecision(4)));
  return `${v} ${unit}`;
}

function verdict(f: Figure): string {
  const ok = passes(f);
  if (ok === undefined || !f.bar) return '';
  const { op, limit } = f.bar;
  if (ok) return '✅ met';
  if (op === '<' || op === '<=') return limit > 0 ? `❌ missed: ${(f.value / limit).toFixed(1)}× the limit` : `❌ missed: ${f.value}`;
  return `❌ missed: ${limit ? Math.round((100 * f.value) / limit) : 0}% of the bar`;
}

function render(outcomes: Outcome[], info: [string, string][], started: Date, seconds: number, findings: string | undefined): string {
  const out: string[] = [];
  out.push('# sannuo benchmark results', '');
  out.push(`Generated by \`npm run bench\` (bench/run.ts) on ${started.toISOString().replace('T', ' ').slice(0, 16)} UTC in ${Math.round(seconds / 60)} min. Every baseline was measured in the same run on the same machine. Do not edit by hand: run it again.`, '');
  out.push('## Machine', '', '| | |', '|---|---|', ...info.map(([k, v]) => `| ${k} | ${v} |`), '');
  out.push('## Bars', '', '| benchmark | figure | value | bar | result |', '|---|---|---|---|---|');
  for (const o of outcomes) {
    if (!o.result) {
      out.push(`| ${o.bench.name} | — | — | — | ${o.status === 'missing' ? `not run: ${o.bench.file} does not exist (owner: ${o.bench.owner})` : o.status === 'skipped' ? 'skipped' : `**${o.status}** (see below)`} |`);
      continue;
    }
    for (const f of o.result.figures.filter((x) => x.bar)) out.push(`| ${o.bench.name} | ${f.name} | ${fmt(f.value, f.unit)} | ${f.bar!.text} (${fmt(f.bar!.limit, f.unit)}) | ${verdict(f)} |`);
  }
  out.push('');
  for (const o of outcomes) {
    if (o.status === 'missing' || o.status === 'skipped') continue;
    out.push(`## ${o.result?.title ?? o.bench.name}`, '');
    out.push(`\`${o.bench.file}${(o.bench.args ?? []).length ? ' ' + o.bench.args!.join(' ').replace('$POSTGRES', '<postgres url>') : ''}\` — ${o.status}, ${Math.round(o.seconds)} s.`, '');
    if (o.result) {
      out.push('| figure | value | baseline (same run) | ratio | bar | result |', '|---|---|---|---|---|---|');
      for (const f of o.result.figures) {
        const base = f.baseline ? `${f.baseline.name}: ${fmt(f.baseline.value, f.baseline.unit)}` : '';
        const ratio = f.baseline && f.baseline.value ? `${(f.value / f.baseline.value).toFixed(2)}×` : '';
        out.push(`| ${f.name}${f.note ? ` (${f.note})` : ''} | ${fmt(f.value, f.unit)} | ${base} | ${ratio} | ${f.bar ? `${f.bar.text}` : ''} | ${verdict(f)} |`);
      }
      out.push('');
      if (o.result.config) out.push(`Setup: ${Object.entries(o.result.config).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toLocaleString('en') : String(v)}`).join('; ')}.`, '');
      for (const n of o.result.notes ?? []) out.push(`- ${n}`);
      if (o.result.notes?.length) out.push('');
    }
    if (o.status !== 'ok' && o.tail) out.push('End of its output:', '', '```', o.tail.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '\n').split('\n').filter(Boolean).slice(-30).join('\n'), '```', '');
  }
  const missing = outcomes.filter((o) => o.status === 'missing');
  if (missing.length) out.push('## Not run', '', ...missing.map((o) => `- ${o.bench.name}: \`${o.bench.file}\` does not exist yet (owner: ${o.bench.owner}).`), '');
  if (findings) out.push(findings.trim(), '');
  return out.join('\n');
}

async function main(): Promise<void> {
  const o = new Command()
    .description('Runs every sannuo benchmark and writes bench/RESULTS.md')
    .option('--only <names>', `comma-separated: ${BENCHES.map((b) => b.name).join(', ')}`)
    .option('--skip <names>', 'comma-separated names to leave out')
    .option('--tree <which>', '"work": hub from the working tree; "head": from a snapshot of the last commit', 'work')
    .option('--out <file>', 'where to write the results', path.join(REPO, 'bench', 'RESULTS.md'))
    .parse()
    .opts<{ only?: string; skip?: string; tree: string; out: string }>();
  if (o.tree !== 'work' && o.tree !== 'head') throw new Error(`--tree: expected work or head, not ${o.tree}`);
  const only = o.only?.split(',').map((s) => s.trim());
  const skip = o.skip?.split(',').map((s) => s.trim()) ?? [];
  for (const name of [...(only ?? []), ...skip]) if (!BENCHES.some((b) => b.name === name)) throw new Error(`no benchmark named ${name}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
  const started = new Date();
  const env: NodeJS.ProcessEnv = { ...process.env };
  let snapshot: string | undefined;
  if (o.tree === 'head') {
    snapshot = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-bench-tree-'));
    execFileSync('bash', ['-c', `git -C '${REPO}' archive HEAD | tar -x -C '${snapshot}'`]);
    fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(snapshot, 'node_modules'));
    env.SANNUO_BENCH_TREE = snapshot;
  }
  let pg: PostgresServer | undefined;
  const postgres = async () => {
    pg ??= await startPostgres();
    return pg.createDatabase(`bench_${Date.now().toString(36)}`);
  };
  const outcomes: Outcome[] = [];
  try {
    for (const bench of BENCHES) {
      if ((only && !only.includes(bench.name)) || skip.includes(bench.name)) { outcomes.push({ bench, status: 'skipped', seconds: 0 }); continue; }
      const outcome = await runOne(bench, env, postgres);
      process.stderr.write(`=== ${bench.name}: ${outcome.status} (${Math.round(outcome.seconds)} s)\n`);
      outcomes.push(outcome);
    }
  } finally {
    await pg?.stop();
    if (snapshot) fs.rmSync(snapshot, { recursive: true, force: true });
  }
  const findingsFile = path.join(REPO, 'bench', 'support', 'findings.md');
  const findings = fs.existsSync(findingsFile) ? fs.readFileSync(findingsFile, 'utf8') : undefined;
  const seconds = (Date.now() - started.getTime()) / 1000;
  fs.writeFileSync(o.out, render(outcomes.filter((x) => x.status !== 'skipped' || !only), machine(o.tree), started, seconds, findings));
  process.stderr.write(`\nwrote ${path.relative(process.cwd(), o.out)}\n`);
  process.exitCode = outcomes.some((x) => x.status === 'failed' || x.status === 'timeout') ? 1 : 0;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
