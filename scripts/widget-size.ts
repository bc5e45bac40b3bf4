/**
 * Vite plugin for the widget build: prints the gzipped size of what a page loads before the launcher shows (the
 * entry chunk plus its static imports; dynamic-import chunks load later) and fails the build above the limit.
 */
import { gzipSync } from 'node:zlib';
import type { Plugin } from 'vite';

/** Budget (printed) and hard limit (fails the build), in gzipped bytes. */
export interface WidgetSizeOptions {
  budgetBytes: number;
  limitBytes: number;
}

interface ChunkLike {
  type: 'chunk';
  code: string;
  isEntry: boolean;
  imports: string[];
}

/** The gzipped size of an entry chunk and everything it imports statically, and the file names involved. */
export function initialLoad(bundle: Record<string, { type: string }>, entry: string): { files: string[]; gzipBytes: number } {
  const files: string[] = [];
  const visit = (name: string): void => {
    const chunk = bundle[name] as ChunkLike | undefined;
    if (!chunk || chunk.type !== 'chunk' || files.includes(name)) return;
    files.push(name);
    chunk.imports.forEach(visit);
  };
  visit(entry);
  const gzipBytes = files.reduce((sum, name) => sum + gzipSync((bundle[name] as ChunkLike).code, { level: 9 }).length, 0);
  return { files, gzipBytes };
}

const kb = (bytes: number): string => `${(bytes / 1024).toFixed(2)} kB`;

/** Measures every output format of the widget build; over `limitBytes` the build fails. */
export function widgetSize(options: WidgetSizeOptions): Plugin {
  return {
    name: 'anon-chat:widget-size',
    apply: 'build',
    generateBundle(output, bundle) {
      for (const [name, item] of Object.entries(bundle)) {
        if (item.type !== 'chunk' || !item.isEntry) continue;
        const { files, gzipBytes } = initialLoad(bundle, name);
        const verdict = gzipBytes > options.limitBytes ? 'OVER LIMIT' : gzipBytes > options.budgetBytes ? 'over budget' : 'within budget';
        // Printed on purpose: the size is a number the build reports every time (issue 3).
        console.log(
          `[widget-size] ${output.format}: initial load ${kb(gzipBytes)} gzipped (${files.join(' + ')}); ` +
            `budget ${kb(options.budgetBytes)}, limit ${kb(options.limitBytes)}: ${verdict}`,
        );
        if (gzipBytes > options.limitBytes) {
          this.error(`widget initial load ${kb(gzipBytes)} gzipped exceeds the ${kb(options.limitBytes)} limit`);
        }
      }
    },
  };
}
