/**
 * Summarises a V8 .cpuprofile (from SANNUO_BENCH_PROFILE): self time by function and by
 * file, and total (inclusive) time of the hub's own functions, so a missed bar can say where
 * the time goes.   npx tsx bench/support/profile-summary.ts <file.cpuprofile> [--top 25]
 */

import fs from 'node:fs';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
interface Profile { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export function summarise(file: string, top = 25): string {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const short = (url: string) => url.replace(/^file:\/\/.*?\/(node_modules|hub|firmware|bench)\//, '$1/').replace(/^node:/, 'node:');
  const label = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const selfBy = new Map<string, number>();
  const fileBy = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    selfBy.set(label(n), (selfBy.get(label(n)) ?? 0) + us);
    const f = n.callFrame.url ? short(n.callFrame.url).replace(/^(node_modules\/(@[^/]+\/)?[^/]+).*$/, '$1') : `(${n.callFrame.functionName})`;
    fileBy.set(f, (fileBy.get(f) ?? 0) + us);
    // Inclusive time of hub/ and firmware/ functions: walk up once per distinct label.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const a = byId.get(at)!;
      if (!/\/(hub|firmware)\//.test(a.callFrame.url)) continue;
      const l = label(a);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + us);
    }
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1)}%`.padStart(6);
  const list = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `${pct(v)}  ${k}`).join('\n');
  const wall = (p.endTime - p.startTime) / 1e6;
  return [
    `profile ${file}: ${wall.toFixed(1)} s wall, ${(total / 1e6).toFixed(1)} s sampled`,
    '', 'self time by file:', list(fileBy, 15),
    '', 'self time by function:', list(selfBy, top),
    '', 'inclusive time, hub and firmware functions:', list(inclusive, top),
  ].join('\n');
}

if (process.argv[1] && /profile-summary\.ts$/.test(process.argv[1])) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: npx tsx bench/support/profile-summary.ts <file.cpuprofile> [--top N]\n');
    process.exit(2);
  }
  const topAt = process.argv.indexOf('--top');
  process.stdout.write(summarise(file, topAt > 0 ? Number(process.argv[topAt + 1]) : 25) + '\n');
}
