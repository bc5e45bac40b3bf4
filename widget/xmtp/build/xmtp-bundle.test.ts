/**
 * The widget build with the project's real vite.config.ts, into a temp dir: the initial load (the ES entry plus its
 * static imports, and the classic script) holds no XMTP SDK, viem or XMTP transport code; the XMTP module, its
 * worker and its WASM are built next to it; both widget formats know where to load the module from.
 */
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initialLoad } from '../../../scripts/widget-size.ts';
import { buildWidgetCapturingChunks, checkWidgetChunk, entryChunkName, type CapturedWidgetBuild } from '../../build/captured-widget-build.ts';
import { XMTP_MODULE_FILE } from '../../transports/select-transport.ts';
import { XMTP_ASSETS_DIR, XMTP_ONLY_MODULE, xmtpNotInInitialLoad } from './xmtp-module-build.ts';

/** Code that exists only in the SDK (its worker actions), its WASM bindings and anon-chat's XMTP content type. */
const SDK_MARKERS = ['client.revokeAllOtherInstallations', 'bindings_wasm', 'conversations.streamAllMessages', 'anon-chat.dev'];

describe('widget bundle and the XMTP module', () => {
  let widget: CapturedWidgetBuild | undefined;
  let outDir: string;
  let bundles: CapturedWidgetBuild['bundles'];

  beforeAll(async () => {
    widget = await buildWidgetCapturingChunks('xmtp');
    ({ outDir, bundles } = widget);
  }, 120_000);

  afterAll(async () => {
    await widget?.remove();
  });

  it('keeps every XMTP module out of the initial load of both formats', () => {
    expect([...bundles.keys()].sort()).toEqual(['es', 'iife']);
    for (const [format, bundle] of bundles) {
      const { files } = initialLoad(bundle, entryChunkName(bundle));
      const modules = files.flatMap((file) => bundle[file]!.moduleIds);
      expect(modules.length, format).toBeGreaterThan(10);
      expect(modules.filter((id) => XMTP_ONLY_MODULE.test(id)), format).toEqual([]);
      for (const file of files) {
        for (const marker of SDK_MARKERS) expect(bundle[file]!.code.includes(marker), `${format} ${file} has ${marker}`).toBe(false);
      }
    }
  });

  it('keeps the SDK out of every chunk of the widget build, lazy ones included', () => {
    for (const [format, bundle] of bundles) {
      for (const [name, chunk] of Object.entries(bundle)) {
        expect(chunk.moduleIds.filter((id) => XMTP_ONLY_MODULE.test(id)), `${format} ${name}`).toEqual([]);
      }
    }
  });

  it('builds the XMTP module, its worker and its WASM next to the widget', async () => {
    const entry = await readFile(join(outDir, XMTP_MODULE_FILE), 'utf8');
    expect(entry).toContain('createXmtpFallbackTransport');
    const assets = await readdir(join(outDir, XMTP_ASSETS_DIR));
    expect(assets.some((file) => /^bindings_wasm_bg-.*\.wasm$/.test(file))).toBe(true);
    const code = await Promise.all(assets.filter((f) => f.endsWith('.js')).map((f) => readFile(join(outDir, XMTP_ASSETS_DIR, f), 'utf8')));
    // The SDK itself (client side and its worker) sits behind the module entry, in the xmtp/ folder.
    expect(code.some((c) => c.includes('client.init') && !c.includes('bindings_wasm'))).toBe(true);
    expect(code.some((c) => c.includes('client.init') && c.includes('bindings_wasm'))).toBe(true);
    // Its workers are created through the cross-origin shim, never with a bare `new Worker(`.
    // (The helper's name is minified away; its blob-module body is what identifies it.)
    expect(code.some((c) => c.includes('URL.createObjectURL') && c.includes('text/javascript'))).toBe(true);
    expect(code.every((c) => !c.includes('new Worker(new URL'))).toBe(true);
  });

  it('lets both the ES and the classic-script widget import the module by URL', async () => {
    for (const file of ['anon-chat.js', 'anon-chat.iife.js']) {
      expect(existsSync(join(outDir, file)), file).toBe(true);
    }
    const iife = await readFile(join(outDir, 'anon-chat.iife.js'), 'utf8');
    const esFiles = initialLoad(bundles.get('es')!, 'anon-chat.js').files;
    const es = esFiles.map((file) => bundles.get('es')![file]!.code).join('\n');
    for (const [format, code] of [['es', es], ['iife', iife]] as const) {
      expect(code.includes(XMTP_MODULE_FILE), format).toBe(true);
      expect(code.includes('currentScript'), format).toBe(true);
    }
  });

  it('fails a build whose widget bundle contains XMTP code', () => {
    const plugin = xmtpNotInInitialLoad();
    expect(() => checkWidgetChunk(plugin, ['/x/widget/anon-chat.ts', '/x/node_modules/@xmtp/browser-sdk/dist/index.js'])).toThrow(/XMTP code in the widget bundle/);
    expect(() => checkWidgetChunk(plugin, ['/x/widget/anon-chat.ts'])).not.toThrow();
  });
});
