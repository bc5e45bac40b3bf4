/**
 * Where the widget script was loaded from: the default bridge, and where the files built next to it (lazy modules,
 * loadable translations) are imported from. Captured when the bundle runs, because `document.currentScript` is only
 * set while a classic script runs (the IIFE build); the ES module build has `import.meta.url`.
 */
const scriptUrl = (document.currentScript as HTMLScriptElement | null)?.src || import.meta.url;

/** The origin the widget script came from; the bridge a `server`-less element talks to. */
export const scriptOrigin = ((): string => {
  try {
    return new URL(scriptUrl).origin;
  } catch {
    return location.origin;
  }
})();

/** The URL of `file`, built next to the widget script. */
export function besideScript(file: string): string {
  return new URL(file, scriptUrl).href;
}
