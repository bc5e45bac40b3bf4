/**
 * Builds: `vite build` → the widget (dist/widget: one ES module + one classic script);
 * `vite build --mode console` → the agent console app (dist/console). Also the Vitest configuration.
 */
import { defineConfig } from 'vitest/config';
import { resolve } from 'node:path';
import { widgetSize } from './scripts/widget-size.ts';
import { xmtpModuleBuild, xmtpNotInInitialLoad } from './widget/xmtp/build/xmtp-module-build.ts';

const root = import.meta.dirname;

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
      // XMTP: never in the widget bundle; its own module (SDK, workers, WASM) is built next to it, loaded by URL.
      xmtpNotInInitialLoad(),
      xmtpModuleBuild({ root }),
    ],
    build: {
      outDir: resolve(root, 'dist/widget'),
      emptyOutDir: true,
      target: 'es2022',
      minify: true,
      // Vite keeps whitespace in ES-format library output; this file is what pages load, so minify it fully.
      rolldownOptions: {
        output: { minify: true },
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
      include: ['{protocol,bridge,widget,console,demo,e2e,torture,bench}/**/*.test.ts'],
      environment: 'node',
      testTimeout: 30_000,
      hookTimeout: 30_000,
      pool: 'forks',
      // Two cores: more parallel files only thrash the child bridges and Chromium the tests start.
      maxWorkers: 2,
    },
  };
});
