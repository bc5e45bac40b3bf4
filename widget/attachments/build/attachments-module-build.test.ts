/**
 * The widget build with the project's real vite.config.ts, into a temp dir: attachment code (links, images, files,
 * uploads) is in anon-chat-attachments.js and in no chunk of the widget bundle; both formats import it by URL; the
 * initial load stays within its 25 kB budget; a build whose bundle holds attachment code fails. The reply-by-email
 * offer and visitor-context reporting, built the same way, are checked here too (one build of the widget serves all).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialLoad } from '../../../scripts/widget-size.ts';
import { buildWidgetCapturingChunks, checkWidgetChunk, entryChunkName, type CapturedWidgetBuild } from '../../build/captured-widget-build.ts';
import { ATTACHMENTS_MODULE_FILE, REPLY_BY_EMAIL_MODULE_FILE, VISITOR_CONTEXT_MODULE_FILE } from '../../lazy-modules.ts';
import { REPLY_BY_EMAIL_ONLY_MODULE } from '../../reply-by-email/build/reply-by-email-module-build.ts';
import { VISITOR_CONTEXT_ONLY_MODULE } from '../../visitor-context/build/visitor-context-module-build.ts';
import { ATTACHMENTS_ONLY_MODULE, attachmentsModuleBuild } from './attachments-module-build.ts';

const root = resolve(import.meta.dirname, '../../..');
/** The widget's initial-load budget (gzip -9), the figure the build prints. */
const BUDGET_BYTES = 25 * 1024;

describe('widget bundle and the attachments module', () => {
  let widget: CapturedWidgetBuild | undefined;
  let outDir: string;
  let bundles: CapturedWidgetBuild['bundles'];

  beforeAll(async () => {
    widget = await buildWidgetCapturingChunks('attachments');
    ({ outDir, bundles } = widget);
  }, 120_000);

  afterAll(async () => {
    await widget?.remove();
  });

  it('keeps attachment code out of every chunk of both formats, and the initial load within 25 kB', () => {
    expect([...bundles.keys()].sort()).toEqual(['es', 'iife']);
    for (const [format, bundle] of bundles) {
      for (const [name, chunk] of Object.entries(bundle)) {
        expect(chunk.moduleIds.filter((id) => ATTACHMENTS_ONLY_MODULE.test(id)), `${format} ${name}`).toEqual([]);
      }
      const entry = entryChunkName(bundle);
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
      const entry = bundle[entryChunkName(bundle)]!;
      expect(entry.code.includes(REPLY_BY_EMAIL_MODULE_FILE), format).toBe(true);
    }
    const code = await readFile(join(outDir, REPLY_BY_EMAIL_MODULE_FILE), 'utf8');
    expect(code).toMatch(/export\s*\{[^}]*createReplyByEmail/);
    for (const marker of ['reply-by-email', 'autocomplete="email"', "Leave your e-mail and we'll reply there"]) expect(code).toContain(marker);
  });

  it('builds visitor-context reporting into its own module, in no chunk of either format, which both import by URL', async () => {
    for (const [format, bundle] of bundles) {
      for (const [name, chunk] of Object.entries(bundle)) {
        expect(chunk.moduleIds.filter((id) => VISITOR_CONTEXT_ONLY_MODULE.test(id)), `${format} ${name}`).toEqual([]);
        expect(chunk.code, `${format} ${name}`).not.toContain('currententrychange');
      }
      expect(bundle[entryChunkName(bundle)]!.code.includes(VISITOR_CONTEXT_MODULE_FILE), format).toBe(true);
    }
    const code = await readFile(join(outDir, VISITOR_CONTEXT_MODULE_FILE), 'utf8');
    expect(code).toMatch(/export\s*\{[^}]*reportVisitorContext/);
    for (const marker of ['currententrychange', 'popstate', 'hashchange', 'getTimezoneOffset']) expect(code).toContain(marker);
  });

  it('fails a build whose widget bundle contains attachment code', () => {
    const [plugin] = attachmentsModuleBuild({ root });
    expect(() => checkWidgetChunk(plugin!, ['/x/widget/anon-chat.ts', '/x/widget/attachments/upload.ts'])).toThrow(/attachment code in the widget bundle/);
    expect(() => checkWidgetChunk(plugin!, ['/x/widget/anon-chat.ts'])).not.toThrow();
  });
});
