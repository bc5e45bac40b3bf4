/**
 * The widget build with the project's real vite.config.ts, into a temp dir: attachment code (links, images, files,
 * uploads) is in anon-chat-attachments.js and in no chunk of the widget bundle; both formats import it by URL; the
 * initial load stays within its 25 kB budget; a build whose bundle holds attachment code fails. The reply-by-email
 * offer, built the same way, is checked here too (one build of the widget serves both).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { build, type Plugin } from 'vite';
import { initialLoad } from '../../../scripts/widget-size.ts';
import { ATTACHMENTS_MODULE_FILE, REPLY_BY_EMAIL_MODULE_FILE } from '../../lazy-modules.ts';
import { REPLY_BY_EMAIL_ONLY_MODULE } from '../../reply-by-email/build/reply-by-email-module-build.ts';
import { ATTACHMENTS_ONLY_MODULE, attachmentsModuleBuild } from './attachments-module-build.ts';

const root = resolve(import.meta.dirname, '../../..');
/** The widget's initial-load budget (gzip -9), the figure the build prints. */
const BUDGET_BYTES = 25 * 1024;

type Captured = Record<string, { type: 'chunk'; code: string; isEntry: boolean; imports: string[]; moduleIds: string[] }>;

function captureBundles(into: Map<string, Captured>): Plugin {
  return {
    name: 'test:capture-bundle',
    generateBundle(output, bundle) {
      const copy: Captured = {};
      for (const [name, item] of Object.entries(bundle)) {
        if (item.type !== 'chunk') continue;
        const chunk = item;
        copy[name] = { type: 'chunk', code: chunk.code, isEntry: chunk.isEntry, imports: chunk.imports, moduleIds: chunk.moduleIds };
      }
      into.set(output.format ?? 'unknown', copy);
    },
  };
}

describe('widget bundle and the attachments module', () => {
  let outDir: string;
  const bundles = new Map<string, Captured>();

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'anon-chat-attachments-build-'));
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
  }, 120_000);

  afterAll(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('keeps attachment code out of every chunk of both formats, and the initial load within 25 kB', () => {
    expect([...bundles.keys()].sort()).toEqual(['es', 'iife']);
    for (const [format, bundle] of bundles) {
      for (const [name, chunk] of Object.entries(bundle)) {
        expect(chunk.moduleIds.filter((id) => ATTACHMENTS_ONLY_MODULE.test(id)), `${format} ${name}`).toEqual([]);
      }
      const entry = Object.entries(bundle).find(([, chunk]) => chunk.isEntry)![0];
      expect(initialLoad(bundle, entry).gzipBytes, `${format} initial load`).toBeLessThanOrEqual(BUDGET_BYTES);
      // Both formats know the module's file name (imported next to the widget script).
      expect(bundle[entry]!.code.includes(ATTACHMENTS_MODULE_FILE), format).toBe(true);
    }
  });

  it('builds the attachments module next to the widget: links, images, uploads', async () => {
    const code = await readFile(join(outDir, ATTACHMENTS_MODULE_FILE), 'utf8');
    expect(code).toMatch(/export\s*\{[^}]*createWidgetAttachments/);
    for (const marker of ['noopener noreferrer nofollow', '/api/attachments', 'upload', 'att-viewer']) expect(code).toContain(marker);
  });

  it('builds the reply-by-email offer into its own module, in no chunk of either format, which both import by URL', async () => {
    for (const [format, bundle] of bundles) {
      for (const [name, chunk] of Object.entries(bundle)) {
        expect(chunk.moduleIds.filter((id) => REPLY_BY_EMAIL_ONLY_MODULE.test(id)), `${format} ${name}`).toEqual([]);
        expect(chunk.code, `${format} ${name}`).not.toContain('Leave your e-mail');
      }
      const entry = Object.values(bundle).find((chunk) => chunk.isEntry)!;
      expect(entry.code.includes(REPLY_BY_EMAIL_MODULE_FILE), format).toBe(true);
    }
    const code = await readFile(join(outDir, REPLY_BY_EMAIL_MODULE_FILE), 'utf8');
    expect(code).toMatch(/export\s*\{[^}]*createReplyByEmail/);
    for (const marker of ['reply-by-email', 'autocomplete="email"', "Leave your e-mail and we'll reply there"]) expect(code).toContain(marker);
  });

  it('fails a build whose widget bundle contains attachment code', () => {
    const [plugin] = attachmentsModuleBuild({ root });
    const context = {
      error: (message: string) => {
        throw new Error(message);
      },
    };
    const hook = plugin!.generateBundle as unknown as (this: typeof context, output: { format: string }, bundle: object) => void;
    const leaked = { 'anon-chat.js': { type: 'chunk', moduleIds: ['/x/widget/anon-chat.ts', '/x/widget/attachments/upload.ts'] } };
    expect(() => hook.call(context, { format: 'es' }, leaked)).toThrow(/attachment code in the widget bundle/);
    const clean = { 'anon-chat.js': { type: 'chunk', moduleIds: ['/x/widget/anon-chat.ts'] } };
    expect(() => hook.call(context, { format: 'es' }, clean)).not.toThrow();
  });
});
