/**
 * Vite plugins for the XMTP part of the widget build (Node side; nothing here runs in the browser):
 * `xmtpModuleBuild` fails the widget build when any XMTP or viem code lands in the widget bundle itself (ES or
 * classic script), so a page without XMTP provably never downloads it, and builds the lazily loaded XMTP module
 * (anon-chat-xmtp.js, its workers and the WASM) next to the widget, as widget/build/lazy-module-build.ts builds
 * every such module.
 */
import type { Plugin } from 'vite';
import { lazyModuleBuild, notInInitialLoad } from '../../build/lazy-module-build.ts';

/** Module ids that belong only in the lazily loaded XMTP module. */
export const XMTP_ONLY_MODULE =
  /[\\/]node_modules[\\/](?:@xmtp|viem|ox|@noble|abitype)[\\/]|[\\/]widget[\\/](?:xmtp[\\/]|transports[\\/](?:xmtp-|fallback-transport))/;

/** Where the XMTP module's workers and WASM go, under the widget's outDir. */
export const XMTP_ASSETS_DIR = 'xmtp';

/** Fails the build when a chunk of the widget bundle contains XMTP-only code. */
export function xmtpNotInInitialLoad(): Plugin {
  return notInInitialLoad('XMTP', XMTP_ONLY_MODULE);
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

/**
 * Keeps XMTP code out of the widget bundle and, after the widget build, builds widget/xmtp/xmtp-module.ts into
 * `<widget outDir>/anon-chat-xmtp.js` with its workers and WASM under `xmtp/`.
 */
export function xmtpModuleBuild(options: { root: string }): Plugin[] {
  const assetNames = `${XMTP_ASSETS_DIR}/[name]-[hash]`;
  return lazyModuleBuild({
    root: options.root,
    label: 'XMTP',
    entry: 'widget/xmtp/xmtp-module.ts',
    file: 'anon-chat-xmtp.js',
    ownedModules: XMTP_ONLY_MODULE,
    configure: (config) => ({
      ...config,
      // Relative URLs: workers and WASM resolve against import.meta.url, wherever the widget is hosted.
      base: './',
      plugins: [crossOriginWorkers()],
      worker: {
        format: 'es',
        rolldownOptions: { output: { entryFileNames: `${assetNames}.js`, chunkFileNames: `${assetNames}.js` } },
      },
      build: {
        ...config.build,
        assetsDir: XMTP_ASSETS_DIR,
        // The SDK's WASM must stay a file; lib-style inlining would turn it into a data URL.
        assetsInlineLimit: 0,
        rolldownOptions: {
          ...config.build?.rolldownOptions,
          output: {
            format: 'es',
            entryFileNames: '[name].js',
            chunkFileNames: `${assetNames}.js`,
            assetFileNames: `${assetNames}[extname]`,
          },
        },
      },
    }),
  });
}
