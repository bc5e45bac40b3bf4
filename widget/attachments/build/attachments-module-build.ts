/**
 * Vite plugin for the widget build (Node side): builds widget/attachments/attachments-module.ts into
 * `<widget outDir>/anon-chat-attachments.js`, an ES module both widget formats import by URL after the launcher
 * has painted, and fails the build when attachment code lands in the widget bundle itself (the initial load).
 */
import { resolve } from 'node:path';
import { build, type Plugin } from 'vite';

import { ATTACHMENTS_MODULE_FILE } from '../../lazy-modules.ts';

/** Module ids that belong only in the lazily loaded attachments module. */
export const ATTACHMENTS_ONLY_MODULE = /[\\/]widget[\\/]attachments[\\/]/;

/** Options of the attachments module build. */
export interface AttachmentsModuleBuildOptions {
  root: string;
}

/** Keeps attachment code out of the widget bundle, and builds the attachments module after it. */
export function attachmentsModuleBuild(options: AttachmentsModuleBuildOptions): Plugin {
  let built = false;
  let outDir = '';
  return {
    name: 'anon-chat:attachments-module',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    generateBundle(output, bundle) {
      for (const [name, item] of Object.entries(bundle)) {
        if (item.type !== 'chunk') continue;
        const leaked = item.moduleIds.filter((id) => ATTACHMENTS_ONLY_MODULE.test(id));
        if (leaked.length) this.error(`attachment code in the widget bundle (${output.format} ${name}): ${leaked.join(', ')}`);
      }
    },
    async closeBundle(error?: Error) {
      if (built || error) return;
      built = true;
      await build({
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
            input: { [ATTACHMENTS_MODULE_FILE.replace(/\.js$/, '')]: resolve(options.root, 'widget/attachments/attachments-module.ts') },
            preserveEntrySignatures: 'strict',
            output: { format: 'es', entryFileNames: '[name].js', minify: true },
          },
        },
      });
    },
  };
}
