import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

// The firmware runs in XS on an ESP32: Node's APIs do not exist there, and firmware/core must
// not even lean on globals that XS lacks (they reach it through hardware.ts).
const root = join(__dirname, '..', '..', 'firmware');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|js)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Strips comments so a comment that names Buffer does not count. */
function code(path: string): string {
  return readFileSync(path, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

// Moddable has its own `net`, `file`, `timer` and `http` modules, so only Node-only names count.
const nodeOnly: [RegExp, string][] = [
  [/\bBuffer\b/, 'Buffer'],
  [/\bprocess\./, 'process'],
  [/from\s+['"](node:|fs|path|os|crypto|child_process|events|stream|https)['"/]/, 'a Node module import'],
  [/\brequire\s*\(/, 'require()'],
  [/\b__dirname\b/, '__dirname'],
];
const notInXs: [RegExp, string][] = [
  [/\bTextEncoder\b|\bTextDecoder\b/, 'TextEncoder/TextDecoder'],
  [/\bsetTimeout\b|\bsetInterval\b/, 'setTimeout/setInterval'],
  [/\bcrypto\./, 'the crypto global'],
  [/\bconsole\./, 'console'],
  [/\bperformance\./, 'performance'],
];

test('firmware/ has sources to check', () => {
  expect(sources(root).length).toBeGreaterThan(3);
});

test.each(sources(root).map((p) => [relative(root, p), p]))('%s uses no Node API', (_name, path) => {
  const text = code(path);
  const rules = path.includes(`${join('firmware', 'core')}`) ? [...nodeOnly, ...notInXs] : nodeOnly;
  const found = rules.filter(([pattern]) => pattern.test(text)).map(([, what]) => what);
  expect(found).toEqual([]);
});
