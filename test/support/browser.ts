// Debian's Chromium, headless, driven by playwright-core: one fresh profile per launch.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { ROOT, scratchDir } from './fixtures.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const VIEWER = path.join(ROOT, 'dist/web/index.html');
export const SHOTS = path.join(ROOT, 'test-output/web');

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserMissing(viewer = VIEWER): string | undefined {
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} is not installed (apt-get install chromium)`;
  if (!fs.existsSync(viewer)) return `${viewer} is not built (npm run build)`;
  return undefined;
}

export interface Browser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

export async function launch(viewport = { width: 1280, height: 800 }): Promise<Browser> {
  const profile = scratchDir('chromium');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    acceptDownloads: true,
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
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
