/**
 * Vitest global setup of the `browser` project: one headless Chromium for the whole run (playwright-core's browser
 * server on loopback), its endpoint handed to the test workers through the environment they inherit. `launchChromium`
 * connects to it and every test file works in contexts of its own, so no file pays for starting a browser. Vitest runs
 * it only when a file of that project is queued.
 */
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH, SHARED_CHROMIUM_ENV } from './browser.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const server = await chromium.launchServer({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, host: '127.0.0.1' });
  process.env[SHARED_CHROMIUM_ENV] = server.wsEndpoint();
  return async () => {
    delete process.env[SHARED_CHROMIUM_ENV];
    await server.close();
  };
}
