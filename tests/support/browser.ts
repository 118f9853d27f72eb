/**
 * Debian's chromium (/usr/bin/chromium, installed by .ci/run with fonts-noto-cjk) driven by
 * playwright-core. Never downloads a browser: executablePath is fixed, and a missing binary is
 * a clear error. Each launch gets a fresh user-data dir (removed on close) so no profile,
 * cookie or cache leaks between tests; the flags keep it off the network beyond localhost.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page, type BrowserContextOptions } from 'playwright-core';

export const CHROMIUM = process.env.SANNUO_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

export interface BrowserSession {
  context: BrowserContext;
  /** A new page; console errors and failed requests are collected into `problems`. */
  page(): Promise<Page>;
  problems: string[];
  close(): Promise<void>;
}

export async function launchBrowser(options: BrowserContextOptions = {}): Promise<BrowserSession> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM} (apt-get install chromium fonts-noto-cjk; or set SANNUO_CHROMIUM)`);
  const userData = fs.mkdtempSync(path.join(os.tmpdir(), 'sannuo-chromium-'));
  // A persistent context is how playwright takes a user-data dir; it is ours alone and removed after.
  const context = await chromium.launchPersistentContext(userData, {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1366, height: 900 }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', ...options,
  });
  const problems: string[] = [];
  return {
    context,
    problems,
    async page() {
      const page = await context.newPage();
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('requestfailed', (r) => {
        // A live stream (SSE) is cut off by design when the page signs out or navigates; anything else failing is a problem.
        if (r.failure()?.errorText === 'net::ERR_ABORTED' && /\/stream(\?|$)/.test(new URL(r.url()).pathname + new URL(r.url()).search)) return;
        problems.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
      });
      return page;
    },
    async close() {
      await context.close().catch(() => undefined);
      fs.rmSync(userData, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot to tests/artifacts/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
