/** Debian's Chromium, driven by playwright-core, for the studio's browser tests. */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Headless Chromium without network chatter; `args` adds flags (e.g. a fake microphone). */
export async function launchChromium(args: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    // Chromium's audio goes through libpulse, which would leave a pulse-* folder in $TMPDIR.
    env: { ...process.env, PULSE_RUNTIME_PATH: '/dev/null/pulse' },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...args,
    ],
  });
}

/** A desktop-sized page (1280 × 900) whose uncaught script errors fail the test. */
export async function newDesktopPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (e) => {
    throw e;
  });
  return page;
}
