// Jest transform: TypeScript and ESM-only packages to CommonJS with esbuild (ts-jest does not
// support TypeScript 7). import.meta.url is rewritten so hub code can locate its own files.
const { transformSync } = require('esbuild');
const { createHash } = require('node:crypto');

module.exports = {
  process(source, filename) {
    const loader = filename.endsWith('.ts') ? 'ts' : filename.endsWith('.mjs') ? 'js' : 'js';
    const result = transformSync(source, {
      loader,
      format: 'cjs',
      target: 'node20',
      sourcemap: 'inline',
      sourcefile: filename,
      define: { 'import.meta.url': '__sannuoImportMetaUrl', 'import.meta.dirname': '__dirname' },
      banner: 'const __sannuoImportMetaUrl = require("node:url").pathToFileURL(__filename).href;',
    });
    return { code: result.code };
  },
  getCacheKey(source, filename) {
    return createHash('sha256').update(source).update(filename).update('v2').digest('hex');
  },
};
