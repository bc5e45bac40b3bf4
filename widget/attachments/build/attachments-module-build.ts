/**
 * The attachments module of the widget build: widget/attachments/attachments-module.ts becomes
 * `<widget outDir>/anon-chat-attachments.js`, which both widget formats import by URL after the launcher has painted;
 * attachment code in the widget bundle itself (the initial load) fails the build.
 */
import { ATTACHMENTS_MODULE_FILE } from '../../lazy-modules.ts';
import { lazyModuleBuild } from '../../build/lazy-module-build.ts';
import type { Plugin } from 'vite';

/** Module ids that belong only in the lazily loaded attachments module. */
export const ATTACHMENTS_ONLY_MODULE = /[\\/]widget[\\/]attachments[\\/]/;

/** Keeps attachment code out of the widget bundle, and builds the attachments module after it. */
export function attachmentsModuleBuild(options: { root: string }): Plugin[] {
  return lazyModuleBuild({
    root: options.root,
    label: 'attachment',
    entry: 'widget/attachments/attachments-module.ts',
    file: ATTACHMENTS_MODULE_FILE,
    ownedModules: ATTACHMENTS_ONLY_MODULE,
  });
}
