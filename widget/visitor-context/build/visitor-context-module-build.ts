/**
 * The visitor-context module of the widget build: widget/visitor-context/visitor-context-module.ts becomes
 * `<widget outDir>/anon-chat-visitor-context.js`, which both widget formats import by URL once a session asks for the
 * visitor context; its code in the widget bundle itself fails the build.
 */
import { VISITOR_CONTEXT_MODULE_FILE } from '../../lazy-modules.ts';
import { lazyModuleBuild } from '../../build/lazy-module-build.ts';
import type { Plugin } from 'vite';

/** Module ids that belong only in the lazily loaded visitor-context module. */
export const VISITOR_CONTEXT_ONLY_MODULE = /[\\/]widget[\\/]visitor-context[\\/]|[\\/]protocol[\\/]visitor-context\.ts$/;

/** Keeps visitor-context reporting out of the widget bundle, and builds its module after it. */
export function visitorContextModuleBuild(options: { root: string }): Plugin[] {
  return lazyModuleBuild({
    root: options.root,
    label: 'visitor-context',
    entry: 'widget/visitor-context/visitor-context-module.ts',
    file: VISITOR_CONTEXT_MODULE_FILE,
    ownedModules: VISITOR_CONTEXT_ONLY_MODULE,
  });
}
