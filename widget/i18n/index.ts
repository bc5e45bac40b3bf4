/** Built-in translations and how the element picks one: exact tag, then language, then English; overrides win. */
import type { BubbleLabels } from '../ui/message-bubble.ts';
import { de } from './de.ts';
import { en, type WidgetStrings } from './en.ts';
import { es } from './es.ts';

export type { WidgetStrings } from './en.ts';
export { fill } from './fill.ts';

/** Translations shipped in the bundle, by BCP 47 language tag. */
export const builtInStrings: Readonly<Record<string, WidgetStrings>> = { en, de, es };

/** Translations shipped as separate files (widget/i18n/loadable.ts), loaded when a widget speaks them. */
export const LOADABLE_LANGUAGES: readonly string[] = ['ar', 'he'];

/** The file a loadable translation is built into, next to the widget script. */
export function stringsFile(lang: string): string {
  return `anon-chat-strings-${lang}.js`;
}

/** The translation `locale` resolves to (`de-AT` → `de`, `he-IL` → `he`, unknown → `en`): the language the UI speaks. */
export function resolveLanguage(locale: string): string {
  const known = (tag: string): boolean => tag in builtInStrings || LOADABLE_LANGUAGES.includes(tag);
  const tag = locale.toLowerCase();
  if (known(tag)) return tag;
  const language = tag.split('-')[0] ?? '';
  return known(language) ? language : 'en';
}

/**
 * The strings for `locale` (e.g. `de-AT` → German) with `overrides` applied on top; `loaded` holds the loadable
 * translations fetched so far (until one arrives, its language shows in English).
 */
export function resolveStrings(locale: string, overrides?: Partial<WidgetStrings>, loaded?: ReadonlyMap<string, WidgetStrings>): WidgetStrings {
  const lang = resolveLanguage(locale);
  const base = builtInStrings[lang] ?? loaded?.get(lang) ?? en;
  return overrides ? { ...base, ...overrides } : base;
}

/** Languages written right to left. */
const RTL_LANGUAGES = new Set(['ar', 'he', 'fa', 'ur', 'yi', 'ps', 'sd', 'ug', 'dv', 'ckb']);

/** `rtl` for a language tag written right to left (`ar`, `he-IL`, …), else `ltr`. */
export function textDirection(locale: string): 'rtl' | 'ltr' {
  return RTL_LANGUAGES.has(locale.toLowerCase().split('-')[0] ?? '') ? 'rtl' : 'ltr';
}

/** The labels the shared bubble rendering needs, taken from the widget strings. */
export function bubbleLabels(s: WidgetStrings): BubbleLabels {
  return {
    sending: s.sending,
    sent: s.sent,
    delivered: s.delivered,
    read: s.read,
    failed: s.failed,
    retry: s.retry,
    failedPrefix: s.failedPrefix,
    agent: s.agent,
    visitor: s.visitor,
    system: s.system,
    errors: {
      text_too_long: s.errorTextTooLong,
      text_empty: s.errorTextEmpty,
      text_invalid: s.errorTextInvalid,
      rate_limited: s.errorRateLimited,
      forbidden: s.errorForbidden,
    },
  };
}
