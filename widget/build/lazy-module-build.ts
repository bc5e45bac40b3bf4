/**
 * Vite plugins for the widget's lazily loaded modules (Node side; nothing here runs in the browser): each module
 * (attachments, the reply-by-email offer, XMTP) is built next to the widget as a separate ES module that both widget
 * formats import by URL, and its code must never land in the widget bundle itself (the initial load).
 */
import { resolve } from 'node:path';
import { build, type InlineConfig, type Plugin } from 'vite';

/** Fails the build when a chunk of the widget bundle holds a module id that `ownedModules` reserves for `label`. */
export function notInInitialLoad(label: string, ownedModules: RegExp): Plugin {
  return {
    name: `anon-chat:${label}-not-in-initial-load`,
    apply: 'build',
    generateBundle(output, bundle) {
      for (const [name, item] of Object.entries(bundle)) {
        if (item.type !== 'chunk') continue;
        const leaked = item.moduleIds.filter((id) => ownedModules.test(id));
        if (leaked.length > 0) {
          this.error(`${label} code in the widget bundle (${output.format} ${name}): ${leaked.slice(0, 5).join(', ')}`);
        }
      }
    },
  };
}

/** What a lazily loaded module is and where it goes. */
export interface LazyModuleBuildOptions {
  root: string;
  /** What the module holds, in words (plugin names and build errors). */
  label: string;
  /** Its source entry, relative to `root`. */
  entry: string;
  /** Its file name under the widget's outDir (widget/lazy-modules.ts). */
  file: string;
  /** Module ids that belong only in this module. */
  ownedModules: RegExp;
  /** Settings beyond the plain ES module build (XMTP: workers, WASM assets); gets the plain build's config. */
  configure?: (config: InlineConfig) => InlineConfig;
}

/** Keeps the module's code out of the widget bundle and builds the module next to it once the widget is built. */
export function lazyModuleBuild(options: LazyModuleBuildOptions): Plugin[] {
  let built = false;
  let outDir = '';
  const builder: Plugin = {
    name: `anon-chat:${options.label}-module`,
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    async closeBundle(error?: Error) {
      if (built || error) return;
      built = true;
      const config: InlineConfig = {
        configFile: false,
        root: options.root,
        logLevel: 'warn',
        build: {
          outDir,
          emptyOutDir: false,
          copyPublicDir: false,
          target: 'es2022',
          minify: true,
          rolldownOptions: {
            input: { [options.file.replace(/\.js$/, '')]: resolve(options.root, options.entry) },
            preserveEntrySignatures: 'strict',
            output: { format: 'es', entryFileNames: '[name].js', minify: true },
          },
        },
      };
      await build(options.configure ? options.configure(config) : config);
    },
  };
  return [notInInitialLoad(options.label, options.ownedModules), builder];
}
