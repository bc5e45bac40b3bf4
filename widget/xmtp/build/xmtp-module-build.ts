/**
 * Vite plugins for the XMTP part of the widget build (Node side; nothing here runs in the browser):
 * - `xmtpNotInInitialLoad` fails the widget build when any XMTP or viem code lands in the widget bundle itself
 *   (ES or classic script), so a page without XMTP provably never downloads it;
 * - `xmtpModuleBuild` builds the lazily loaded XMTP module (anon-chat-xmtp.js, its workers and the WASM) next to
 *   the widget, as a separate ES build both widget formats import by URL.
 */
import { resolve } from 'node:path';
import { build, type Plugin } from 'vite';

/** Module ids that belong only in the lazily loaded XMTP module. */
export const XMTP_ONLY_MODULE =
  /[\\/]node_modules[\\/](?:@xmtp|viem|ox|@noble|abitype)[\\/]|[\\/]widget[\\/](?:xmtp[\\/]|transports[\\/](?:xmtp-|fallback-transport))/;

/** Where the XMTP module's workers and WASM go, under the widget's outDir. */
export const XMTP_ASSETS_DIR = 'xmtp';

/** Fails the build when a chunk of the widget bundle contains XMTP-only code. */
export function xmtpNotInInitialLoad(): Plugin {
  return {
    name: 'anon-chat:xmtp-not-in-initial-load',
    apply: 'build',
    generateBundle(output, bundle) {
      for (const [name, item] of Object.entries(bundle)) {
        if (item.type !== 'chunk') continue;
        const leaked = item.moduleIds.filter((id) => XMTP_ONLY_MODULE.test(id));
        if (leaked.length > 0) {
          this.error(`XMTP code in the widget bundle (${output.format} ${name}): ${leaked.slice(0, 5).join(', ')}`);
        }
      }
    },
  };
}

/**
 * The SDK creates its workers with `new Worker(url)`, which browsers refuse for a script on another origin, and an
 * embedded widget is usually served from the bridge's origin, not the page's. A same-origin blob module that
 * imports the real worker script works across origins (given CORS on the widget files), so every `new Worker(` in
 * the XMTP chunks goes through this helper.
 */
export function crossOriginWorkers(): Plugin {
  const helper =
    'function __anonChatWorker(url,options){const href=String(url);' +
    'if(new URL(href,location.href).origin===location.origin)return new Worker(href,options);' +
    'const blob=new Blob([`import ${JSON.stringify(href)};`],{type:"text/javascript"});' +
    'return new Worker(URL.createObjectURL(blob),{...options,type:"module"})}\n';
  return {
    name: 'anon-chat:xmtp-cross-origin-workers',
    apply: 'build',
    enforce: 'post',
    renderChunk(code) {
      if (!code.includes('new Worker(')) return null;
      return { code: helper + code.replaceAll('new Worker(', '__anonChatWorker('), map: null };
    },
  };
}

/** Options of the XMTP module build. */
export interface XmtpModuleBuildOptions {
  root: string;
}

/** After the widget build, builds widget/xmtp/xmtp-module.ts into `<widget outDir>/anon-chat-xmtp.js`. */
export function xmtpModuleBuild(options: XmtpModuleBuildOptions): Plugin {
  let built = false;
  let outDir = '';
  return {
    name: 'anon-chat:xmtp-module',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    async closeBundle(error?: Error) {
      if (built || error) return;
      built = true;
      const assetNames = `${XMTP_ASSETS_DIR}/[name]-[hash]`;
      await build({
        configFile: false,
        root: options.root,
        // Relative URLs: workers and WASM resolve against import.meta.url, wherever the widget is hosted.
        base: './',
        logLevel: 'warn',
        plugins: [crossOriginWorkers()],
        worker: {
          format: 'es',
          rolldownOptions: { output: { entryFileNames: `${assetNames}.js`, chunkFileNames: `${assetNames}.js` } },
        },
        build: {
          outDir,
          emptyOutDir: false,
          copyPublicDir: false,
          target: 'es2022',
          minify: true,
          assetsDir: XMTP_ASSETS_DIR,
          // The 12 MB WASM must stay a file; lib-style inlining would turn it into a data URL.
          assetsInlineLimit: 0,
          rolldownOptions: {
            input: { 'anon-chat-xmtp': resolve(options.root, 'widget/xmtp/xmtp-module.ts') },
            preserveEntrySignatures: 'strict',
            output: {
              format: 'es',
              entryFileNames: '[name].js',
              chunkFileNames: `${assetNames}.js`,
              assetFileNames: `${assetNames}[extname]`,
            },
          },
        },
      });
    },
  };
}
