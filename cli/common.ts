/** What the CLI's command files share: the repository root, the id pattern, the user-facing error. */

import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const ID = /^[A-Za-z0-9_-]{1,32}$/;

/** An error for the user: printed without a stack, with the exit code given. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'CliError';
  }
}
