/**
 * The reply-by-email module of the widget build: widget/reply-by-email/reply-by-email-module.ts becomes
 * `<widget outDir>/anon-chat-reply-by-email.js`, which both widget formats import by URL when a session offers an
 * answer by e-mail while nobody is online; its code in the widget bundle itself fails the build.
 */
import { REPLY_BY_EMAIL_MODULE_FILE } from '../../lazy-modules.ts';
import { lazyModuleBuild } from '../../build/lazy-module-build.ts';
import type { Plugin } from 'vite';

/** Module ids that belong only in the lazily loaded reply-by-email module. */
export const REPLY_BY_EMAIL_ONLY_MODULE = /[\\/]widget[\\/]reply-by-email[\\/]/;

/** Keeps the reply-by-email offer out of the widget bundle, and builds its module after it. */
export function replyByEmailModuleBuild(options: { root: string }): Plugin[] {
  return lazyModuleBuild({
    root: options.root,
    label: 'reply-by-email',
    entry: 'widget/reply-by-email/reply-by-email-module.ts',
    file: REPLY_BY_EMAIL_MODULE_FILE,
    ownedModules: REPLY_BY_EMAIL_ONLY_MODULE,
  });
}
