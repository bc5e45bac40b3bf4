/**
 * The widget build with the project's real vite.config.ts, into a temp dir: the initial load (the ES entry plus its
 * static imports, and the classic script) holds no XMTP SDK, viem or XMTP transport code; the XMTP module, its
 * worker and its WASM are built next to it; both widget formats know where to load the module from.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { build, type Plugin } from 'vite';
import { initialLoad } from '../../../scripts/widget-size.ts';
import { XMTP_MODULE_FILE } from '../../transports/select-transport.ts';
import { XMTP_ASSETS_DIR, XMTP_ONLY_MODULE, xmtpNotInInitialLoad } from './xmtp-module-build.ts';

const root = resolve(import.meta.dirname, '../../..');

/** Code that exists only in the SDK (its worker actions), its WASM bindings and anon-chat's XMTP content type. */
const SDK_MARKERS = ['client.revokeAllOtherInstallations', 'bindings_wasm', 'conversations.streamAllMessages', 'anon-chat.dev'];

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

describe('widget bundle and the XMTP module', () => {
  let outDir: string;
  const bundles = new Map<string, Captured>();

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'anon-chat-xmtp-build-'));
    // The size plugin prints its verdict on every build; keep the test output clean.
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await build({
        configFile: resolve(root, 'vite.config.ts'),
        logLevel: 'silent',
        plugins: [captureBundles(bundles)],
        build: { outDir, emptyOutDir: true },
      });
    } finally {
      log.mockRestore();
    }
  }, 120_000);

  afterAll(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('keeps every XMTP module out of the initial load of both formats', () => {
    expect([...bundles.keys()].sort()).toEqual(['es', 'iife']);
    for (const [format, bundle] of bundles) {
      const entry = Object.entries(bundle).find(([, chunk]) => chunk.isEntry)![0];
      const { files } = initialLoad(bundle, entry);
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
    const context = {
      error: (message: string) => {
        throw new Error(message);
      },
    };
    const bundle = {
      'anon-chat.js': { type: 'chunk', moduleIds: ['/x/widget/anon-chat.ts', '/x/node_modules/@xmtp/browser-sdk/dist/index.js'] },
    };
    const hook = plugin.generateBundle as unknown as (this: typeof context, output: { format: string }, bundle: object) => void;
    expect(() => hook.call(context, { format: 'es' }, bundle)).toThrow(/XMTP code in the widget bundle/);
    const clean = { 'anon-chat.js': { type: 'chunk', moduleIds: ['/x/widget/anon-chat.ts'] } };
    expect(() => hook.call(context, { format: 'es' }, clean)).not.toThrow();
  });
});
