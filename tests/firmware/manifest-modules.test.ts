import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// mcconfig builds only the modules the manifest names; a firmware import the manifest lacks
// builds cleanly and fails on the device at boot (the lin run found "./storage-preference.js"
// not found). Every relative import in firmware/main.ts and firmware/moddable must resolve to
// a manifest module, in the common list or in the platform that uses it.
const ROOT = join(__dirname, '..', '..');
const manifest = JSON.parse(readFileSync(join(ROOT, 'manifest.json'), 'utf8'));
const mapped = new Set<string>([
  ...Object.keys(manifest.modules),
  ...Object.values(manifest.platforms as Record<string, { modules?: Record<string, string> }>).flatMap((p) => Object.keys(p.modules ?? {})),
]);

function imports(file: string): string[] {
  const code = readFileSync(file, 'utf8');
  return [...code.matchAll(/^\s*import\s+(?!type\b)[^'"]*from\s+'(\.[^']+)'/gm)].map((m) => m[1]);
}

/** The specifier Moddable resolves a relative import to, from the importing module's own. */
function resolve(from: string, relative: string): string {
  const parts = from.split('/').slice(0, -1);
  for (const segment of relative.replace(/\.js$/, '').split('/')) {
    if (segment === '..') parts.pop();
    else if (segment !== '.') parts.push(segment);
  }
  return parts.join('/');
}

test('every module the firmware imports is in the manifest', () => {
  const files: [string, string][] = [[join(ROOT, 'firmware', 'main.ts'), 'main']];
  for (const name of readdirSync(join(ROOT, 'firmware', 'moddable'))) {
    if (name.endsWith('.ts')) files.push([join(ROOT, 'firmware', 'moddable', name), `moddable/${name.slice(0, -3)}`]);
  }
  const missing: string[] = [];
  for (const [file, specifier] of files) {
    for (const rel of imports(file)) {
      const target = resolve(specifier, rel);
      if (target.startsWith('core/')) continue; // "core/*" maps the whole folder
      if (!mapped.has(target)) missing.push(`${specifier} imports ${rel} (${target})`);
    }
  }
  expect(missing).toEqual([]);
  expect(mapped.has('moddable/storage-preference')).toBe(true);
});
