/**
 * The strings an element speaks: built-in ones at once, a loadable translation once its file (built next to the
 * widget script) has arrived. Loaded translations are shared by every element on the page.
 */
import { besideScript } from '../script-origin.ts';
import type { WidgetStrings } from './en.ts';
import { LOADABLE_LANGUAGES, builtInStrings, resolveLanguage, resolveStrings, stringsFile } from './index.ts';

const loadedStrings = new Map<string, WidgetStrings>();
const loadingStrings = new Map<string, Promise<void>>();

/** Imports a loadable translation; a failed load leaves that language in English. */
function loadStrings(lang: string): Promise<void> {
  let loading = loadingStrings.get(lang);
  if (!loading) {
    loading = import(/* @vite-ignore */ besideScript(stringsFile(lang))).then(
      (module: { default: WidgetStrings }) => void loadedStrings.set(lang, module.default),
      () => undefined,
    );
    loadingStrings.set(lang, loading);
  }
  return loading;
}

/** The strings for `locale` with `overrides`; starts loading a loadable translation and calls `loaded` once it is here. */
export function pageStrings(locale: string, overrides: Partial<WidgetStrings> | undefined, loaded: () => void): WidgetStrings {
  const lang = resolveLanguage(locale);
  if (LOADABLE_LANGUAGES.includes(lang) && !loadedStrings.has(lang)) void loadStrings(lang).then(loaded);
  return resolveStrings(locale, overrides, loadedStrings);
}

/** The language the UI speaks now: a loadable one only once its strings are here; the page's tag with overrides. */
export function pageLanguage(locale: string, overrides: Partial<WidgetStrings> | undefined): string {
  if (overrides) return locale;
  const lang = resolveLanguage(locale);
  return lang in builtInStrings || loadedStrings.has(lang) ? lang : 'en';
}
