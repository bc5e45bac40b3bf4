/**
 * Vite plugin for the widget build (Node side): builds widget/reply-by-email/reply-by-email-module.ts into
 * `<widget outDir>/anon-chat-reply-by-email.js`, an ES module both widget formats import by URL when a session offers
 * an answer by e-mail while nobody is online, and fails the build when its code lands in the widget bundle itself.
 */
import { resolve } from 'node:path';
import { build, type Plugin } from 'vite';

import { REPLY_BY_EMAIL_MODULE_FILE } from '../../lazy-modules.ts';

/** Module ids that belong only in the lazily loaded reply-by-email module. */
export const REPLY_BY_EMAIL_ONLY_MODULE = /[\\/]widget[\\/]reply-by-email[\\/]/;

/** Options of the reply-by-email module build. */
export interface ReplyByEmailModuleBuildOptions {
  root: string;
}

/** Keeps the reply-by-email offer out of the widget bundle, and builds its module after it. */
export function replyByEmailModuleBuild(options: ReplyByEmailModuleBuildOptions): Plugin {
  let built = false;
  let outDir = '';
  return {
    name: 'anon-chat:reply-by-email-module',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    generateBundle(output, bundle) {
      for (const [name, item] of Object.entries(bundle)) {
        if (item.type !== 'chunk') continue;
        const leaked = item.moduleIds.filter((id) => REPLY_BY_EMAIL_ONLY_MODULE.test(id));
        if (leaked.length) this.error(`reply-by-email code in the widget bundle (${output.format} ${name}): ${leaked.join(', ')}`);
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
            input: { [REPLY_BY_EMAIL_MODULE_FILE.replace(/\.js$/, '')]: resolve(options.root, 'widget/reply-by-email/reply-by-email-module.ts') },
            preserveEntrySignatures: 'strict',
            output: { format: 'es', entryFileNames: '[name].js', minify: true },
          },
        },
      });
    },
  };
}
