/**
 * Builds: `vite build` → the widget (dist/widget: one ES module + one classic script);
 * `vite build --mode console` → the agent console app (dist/console). Also the Vitest configuration.
 */
import { configDefaults, defineConfig } from 'vitest/config';
import { resolve } from 'node:path';
import { widgetSize } from './scripts/widget-size.ts';
import { minifyCssLiterals } from './widget/build/minify-css-literals.ts';
import { xmtpModuleBuild } from './widget/xmtp/build/xmtp-module-build.ts';
import { loadableStringsBuild } from './widget/i18n/build/strings-build.ts';
import { attachmentsModuleBuild } from './widget/attachments/build/attachments-module-build.ts';
import { replyByEmailModuleBuild } from './widget/reply-by-email/build/reply-by-email-module-build.ts';
import { visitorContextModuleBuild } from './widget/visitor-context/build/visitor-context-module-build.ts';
import { LongestFirstSequencer } from './scripts/test-sequencer.ts';

const root = import.meta.dirname;
/** Files that drive Chromium: their project starts one browser for the run (e2e/helpers/chromium-global-setup.ts). */
const BROWSER_TESTS = ['e2e/**/*.test.ts', 'torture/rendering.test.ts'];
/** Files that need PostgreSQL: their project starts one throwaway cluster for the run (bridge/testing/postgres.ts). */
const POSTGRES_TESTS = ['{protocol,bridge,widget,console,demo,e2e,torture,bench}/**/*.postgres.test.ts'];

export default defineConfig(({ mode }) => {
  if (mode === 'console') {
    return {
      root: resolve(root, 'console'),
      base: '/console/',
      build: { outDir: resolve(root, 'dist/console'), emptyOutDir: true, target: 'es2022' },
    };
  }
  return {
    plugins: [
      widgetSize({ budgetBytes: 25 * 1024, limitBytes: 30 * 1024 }),
      // Lit keeps css`…` text verbatim: its indentation and comments would count towards the initial load.
      minifyCssLiterals(),
      // XMTP: never in the widget bundle; its own module (SDK, workers, WASM) is built next to it, loaded by URL.
      xmtpModuleBuild({ root }),
      // Translations beyond en/de/es: one small file each, imported by URL when a widget speaks them.
      loadableStringsBuild(),
      // Attachments (links in text, images, files, uploads): their own module, imported by URL after first paint.
      attachmentsModuleBuild({ root }),
      // The reply-by-email offer: its own module, imported by URL only when a session offers it while nobody is online.
      replyByEmailModuleBuild({ root }),
      // Visitor context reporting: its own module, imported by URL only when a session asks for it.
      visitorContextModuleBuild({ root }),
    ],
    build: {
      outDir: resolve(root, 'dist/widget'),
      emptyOutDir: true,
      target: 'es2022',
      minify: true,
      // Vite keeps whitespace in ES-format library output; this file is what pages load, so minify it fully.
      rolldownOptions: {
        // Pure annotations (/* @__PURE__ */) only help a bundler that tree-shakes this file again; pages load it as it is.
        output: { minify: true, comments: { annotation: false } },
        onLog(level, log, handler) {
          // The classic-script build has no import.meta by design: the widget reads document.currentScript there.
          if (log.code === 'EMPTY_IMPORT_META') return;
          handler(level, log);
        },
      },
      lib: {
        entry: resolve(root, 'widget/anon-chat.ts'),
        name: 'AnonChat',
        formats: ['es', 'iife'],
        fileName: (format) => (format === 'es' ? 'anon-chat.js' : 'anon-chat.iife.js'),
      },
    },
    test: {
      environment: 'node',
      // Sized for a loaded 2-core CI machine, above every deadline the helpers set (a child process may take
      // START_DEADLINE_MS to start, a waitUntil WAIT_DEADLINE_MS), so the helper that waited says what for.
      testTimeout: 120_000,
      hookTimeout: 120_000,
      expect: { poll: { timeout: 30_000 } },
      pool: 'forks',
      // A worker process runs file after file without a fresh module graph for each: most files are small, and
      // loading the bridge's modules again for every one of them cost more CPU than their tests. So no test file may
      // leave state behind (module-level caches of helpers are keyed, servers and children are closed in afterAll, no
      // process-wide setting is changed); the series of whole-suite runs behind README's figures checks that.
      isolate: false,
      // Child bridges run from a bundle built once for the run, not through tsx in every child.
      globalSetup: ['bridge/testing/bundle-global-setup.ts'],
      // Three files at a time on two cores: many files spend much of their time waiting (retry windows, child
      // bridges starting, a browser rendering), and a third file uses that idle time.
      maxWorkers: 3,
      // Long files first, also on a clean clone (Vitest's own order needs a previous run's durations).
      sequence: { sequencer: LongestFirstSequencer },
      // Projects inherit the options above (`extends`); arrays would be concatenated, so each project has its own `include`.
      // No test asserts a timing, so every file shares the machine with the others (the bench smoke too: one tiny round
      // per scenario, judged only on correctness).
      projects: [
        {
          extends: true,
          test: {
            name: 'main',
            include: ['{protocol,bridge,widget,console,demo,e2e,torture,bench,scripts}/**/*.test.ts'],
            exclude: [...configDefaults.exclude, ...POSTGRES_TESTS, ...BROWSER_TESTS],
          },
        },
        {
          extends: true,
          test: {
            name: 'browser',
            include: BROWSER_TESTS,
            exclude: [...configDefaults.exclude, ...POSTGRES_TESTS],
            globalSetup: ['e2e/helpers/chromium-global-setup.ts'],
          },
        },
        {
          extends: true,
          test: {
            name: 'postgres',
            include: POSTGRES_TESTS,
            globalSetup: ['bridge/testing/postgres-global-setup.ts'],
          },
        },
      ],
    },
  };
});
