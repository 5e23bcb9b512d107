import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { repoRoot } from './fixtures.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Screenshots from browser tests land here (ignored by git). */
export const SCREENSHOT_DIR = path.join(repoRoot, 'test-results');

/**
 * Starts Debian's Chromium headless. Without the background-networking flags Chromium keeps trying to
 * reach Google's hosts, which a closed network refuses. Playwright gives each launch a fresh profile. When Chromium is missing the test fails under
 * CI and is skipped elsewhere.
 */
export async function launchChromium(ctx: { skip: (note?: string) => never }): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    const reason = `Chromium not found at ${CHROMIUM_PATH}; install it with "apt-get install chromium"`;
    if (process.env.CI === 'true') throw new Error(reason);
    console.warn(`skipped: ${reason}`);
    return ctx.skip(reason);
  }
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
