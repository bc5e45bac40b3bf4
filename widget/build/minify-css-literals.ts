/**
 * Vite plugin for the widget build: minifies the text of Lit `css` tagged templates in the widget's `*.styles.ts`
 * files. Lit keeps those literals verbatim and the bundler minifies only the JavaScript around them, so their
 * indentation and comments would count towards the initial load.
 */
import type { Plugin } from 'vite';

/** The files whose `css` literals are minified. */
const STYLES_FILE = /[\\/]widget[\\/].*\.styles\.ts$/;

/**
 * CSS text without comments, and with whitespace runs collapsed to one space and dropped next to `{`, `}`, `;` and
 * `,`. Spaces elsewhere stay: in a selector (`.a :hover`) or a value they can be meaningful.
 */
export function minifyCss(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\s+/g, ' ')
    .replace(/ ?([{};,]) ?/g, '$1')
    .trim();
}

/** Minifies every css`…` literal of the widget's style files (their `${…}` parts are plain identifiers). */
export function minifyCssLiterals(): Plugin {
  return {
    name: 'anon-chat:minify-css-literals',
    apply: 'build',
    transform(code, id) {
      if (!STYLES_FILE.test(id)) return null;
      return { code: code.replace(/\bcss`([^`]*)`/g, (_whole, text: string) => `css\`${minifyCss(text)}\``), map: null };
    },
  };
}
