/**
 * Browser helpers for every end-to-end test: launch the system Chromium through playwright-core, collect page
 * errors and CSP violations, make sure the widget and console bundles are built, save screenshots as artifacts.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';

/** The repository root. */
export const ROOT = join(import.meta.dirname, '..', '..');
/** Where each test run leaves its screenshots (git-ignored). */
export const ARTIFACTS_DIR = join(ROOT, 'test-artifacts');
/** Screenshots the README shows (committed). */
export const SCREENSHOTS_DIR = join(ROOT, 'docs', 'screenshots');

/**
 * The system Chromium (Debian's packages); tests never download a browser. Debian's `chromium-headless-shell` first:
 * the same engine built for automation only, without the desktop browser's UI layer, so the same pages cost the test
 * run much less CPU. `/usr/bin/chromium` when it is not installed; `CHROMIUM_PATH` overrides both.
 */
export const CHROMIUM_PATH =
  process.env.CHROMIUM_PATH ??
  ['/usr/bin/chromium-headless-shell', '/usr/bin/chromium'].find((path) => existsSync(path)) ??
  '/usr/bin/chromium';

/** Flags for a quiet headless Chromium in a container. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  // Several contexts share one process; a tab in the background must keep its timers and sockets running.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
  '--autoplay-policy=no-user-gesture-required',
  // Every test page and bridge is on loopback, where Local Network Access has nothing to guard; with the check on, a
  // response a test rewrote (route.fulfill) loses its loopback address space and its WebSocket to the bridge is
  // blocked. Off for the run's one shared browser, so such a test needs no browser of its own.
  '--disable-features=LocalNetworkAccessChecks',
];

/** The environment variable that carries the endpoint of the run's shared Chromium (e2e/helpers/chromium-global-setup.ts). */
export const SHARED_CHROMIUM_ENV = 'ANON_CHAT_TEST_CHROMIUM';

/**
 * Headless Chromium with the flags above: the run's shared browser when there is one (closing the returned Browser
 * closes only the contexts it created), else a browser of its own — always with `extraArgs`, which are per process.
 */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  const shared = process.env[SHARED_CHROMIUM_ENV];
  if (shared && extraArgs.length === 0) return chromium.connect(shared);
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/**
 * The desktop Chromium (`/usr/bin/chromium`, or `CHROMIUM_PATH`), headless, as a browser of its own: for the few pages
 * that need what only the full browser has — the headless shell answers every notification permission with "denied",
 * so Web Push cannot be turned on there.
 */
export function launchDesktopChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/** Builds the widget and console bundles the bridge serves, unless they are already in dist/. */
export function ensureBuilt(): void {
  const vite = join(ROOT, 'node_modules', '.bin', 'vite');
  if (!existsSync(join(ROOT, 'dist', 'widget', 'anon-chat.js'))) execFileSync(vite, ['build'], { cwd: ROOT, stdio: 'ignore' });
  if (!existsSync(join(ROOT, 'dist', 'console', 'index.html'))) {
    execFileSync(vite, ['build', '--mode', 'console'], { cwd: ROOT, stdio: 'ignore' });
  }
}

/** Problems a page reported: uncaught errors, console errors, CSP violations. */
export interface PageProblems {
  errors: string[];
}

/** Opens a page in `context` that records its errors and CSP violations into the returned list. */
export async function openPage(context: BrowserContext, ignore: RegExp[] = []): Promise<{ page: Page; problems: PageProblems }> {
  const page = await context.newPage();
  const problems: PageProblems = { errors: [] };
  const keep = (text: string): void => {
    if (!ignore.some((re) => re.test(text))) problems.errors.push(text);
  };
  page.on('pageerror', (error) => keep(`pageerror: ${error.message}`));
  page.on('console', (message: ConsoleMessage) => {
    // A failed resource load says only its status; the URL tells which request it was.
    if (message.type() === 'error') keep(`console: ${message.text()}${message.location().url ? ` (${message.location().url})` : ''}`);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`csp violation: ${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  return { page, problems };
}

/**
 * Console errors that a reconnect test provokes on purpose: the browser logs failed WebSocket/XHR attempts while
 * the bridge is down. Pass to `openPage` in tests that stop the bridge.
 */
export const NETWORK_ERRORS: RegExp[] = [/ERR_CONNECTION_REFUSED/, /WebSocket connection to .* failed/, /Failed to load resource/];

/**
 * Saves `name`.png into test-artifacts/ (every run). With `UPDATE_SCREENSHOTS=1` it also refreshes the README's copy
 * in docs/screenshots/ — opt-in, so a plain `npm test` leaves the working tree clean.
 */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const file = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path: file });
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    await mkdir(SCREENSHOTS_DIR, { recursive: true });
    await copyFile(file, join(SCREENSHOTS_DIR, `${name}.png`));
  }
  return file;
}
