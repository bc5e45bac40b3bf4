/**
 * Builds: `vite build` → the widget (dist/widget: one ES module + one classic script);
 * `vite build --mode console` → the agent console app (dist/console). Also the Vitest configuration.
 */
import { defineConfig } from 'vitest/config';
import { resolve } from 'node:path';

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
    build: {
      outDir: resolve(root, 'dist/widget'),
      emptyOutDir: true,
      target: 'es2022',
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
