/** Jest runs TypeScript through esbuild (tests/esbuild-transform.cjs) as CommonJS. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.ts'],
  transform: { '\\.(ts|js|mjs)$': '<rootDir>/tests/esbuild-transform.cjs' },
  // ESM-only packages are transformed too.
  transformIgnorePatterns: ['/node_modules/(?!(@noble|aedes|cookie)/)'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  testTimeout: 60_000,
};
