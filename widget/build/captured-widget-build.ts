/**
 * For the widget build tests (Node side): one production build of the widget with the project's real vite.config.ts
 * into a temp dir, keeping each format's chunks for the checks of what the initial load holds.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { vi } from 'vitest';
import { build, type Plugin } from 'vite';

/** The parts of an output chunk the build tests read. */
export interface CapturedChunk {
  type: 'chunk';
  code: string;
  isEntry: boolean;
  imports: string[];
  moduleIds: string[];
}

/** One output format's chunks, by file name. */
export type CapturedBundle = Record<string, CapturedChunk>;

/** A finished widget build: where it was written and each format's chunks ('es', 'iife'). */
export interface CapturedWidgetBuild {
  outDir: string;
  bundles: Map<string, CapturedBundle>;
  remove(): Promise<void>;
}

const root = resolve(import.meta.dirname, '../..');

function captureBundles(into: Map<string, CapturedBundle>): Plugin {
  return {
    name: 'test:capture-bundle',
    generateBundle(output, bundle) {
      const copy: CapturedBundle = {};
      for (const [name, item] of Object.entries(bundle)) {
        if (item.type !== 'chunk') continue;
        copy[name] = { type: 'chunk', code: item.code, isEntry: item.isEntry, imports: item.imports, moduleIds: item.moduleIds };
      }
      into.set(output.format ?? 'unknown', copy);
    },
  };
}

/** Builds the widget as pages get it into a new temp dir named after `label`. */
export async function buildWidgetCapturingChunks(label: string): Promise<CapturedWidgetBuild> {
  const outDir = await mkdtemp(join(tmpdir(), `anon-chat-${label}-build-`));
  const bundles = new Map<string, CapturedBundle>();
  // The size plugin prints its verdict on every build; keep the test output clean.
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  // Vitest runs with NODE_ENV=test, which resolves Lit's development build; pages get the production one.
  vi.stubEnv('NODE_ENV', 'production');
  try {
    await build({ configFile: resolve(root, 'vite.config.ts'), mode: 'production', logLevel: 'silent', plugins: [captureBundles(bundles)], build: { outDir, emptyOutDir: true } });
  } finally {
    vi.unstubAllEnvs();
    log.mockRestore();
  }
  return { outDir, bundles, remove: () => rm(outDir, { recursive: true, force: true }) };
}

/** The file name of a format's entry chunk. */
export function entryChunkName(bundle: CapturedBundle): string {
  const entry = Object.entries(bundle).find(([, chunk]) => chunk.isEntry);
  if (!entry) throw new Error('no entry chunk in the bundle');
  return entry[0];
}

/**
 * Runs a "not in the initial load" plugin's check on a one-chunk ES bundle whose chunk holds `moduleIds`; throws the
 * build error the plugin raises.
 */
export function checkWidgetChunk(plugin: Plugin, moduleIds: string[]): void {
  const context = {
    error: (message: string) => {
      throw new Error(message);
    },
  };
  const hook = plugin.generateBundle as unknown as (this: typeof context, output: { format: string }, bundle: object) => void;
  hook.call(context, { format: 'es' }, { 'anon-chat.js': { type: 'chunk', moduleIds } });
}
