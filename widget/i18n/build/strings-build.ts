/** Vite plugin (Node side): writes each loadable translation as anon-chat-strings-<lang>.js next to the widget. */
import type { Plugin } from 'vite';
import { stringsFile } from '../index.ts';
import { loadableStrings } from '../loadable.ts';

/** Emits one small ES module (`export default {…}`) per loadable language. */
export function loadableStringsBuild(): Plugin {
  return {
    name: 'anon-chat:loadable-strings',
    apply: 'build',
    generateBundle(output) {
      if (output.format !== 'es') return;
      for (const [lang, strings] of Object.entries(loadableStrings)) {
        this.emitFile({ type: 'asset', fileName: stringsFile(lang), source: `export default ${JSON.stringify(strings)};\n` });
      }
    },
  };
}
