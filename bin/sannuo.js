#!/usr/bin/env node
// Launcher for the sannuo CLI (cli/sannuo.ts): TypeScript through tsx, in this same process.
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';

register();
process.env.SANNUO_CLI_MAIN = '1';
await import(fileURLToPath(new URL('../cli/sannuo.ts', import.meta.url)));
