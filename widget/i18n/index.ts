/** Built-in translations and how the element picks one: exact tag, then language, then English; overrides win. */
import type { BubbleLabels } from '../ui/message-bubble.ts';
import { de } from './de.ts';
import { en, type WidgetStrings } from './en.ts';
import { es } from './es.ts';

export type { WidgetStrings } from './en.ts';
export { fill } from './fill.ts';

/** Translations shipped in the bundle, by BCP 47 language tag. */
export const builtInStrings: Readonly<Record<string, WidgetStrings>> = { en, de, es };

/** The strings for `locale` (e.g. `de-AT` → German) with `overrides` applied on top. */
export function resolveStrings(locale: string, overrides?: Partial<WidgetStrings>): WidgetStrings {
  const tag = locale.toLowerCase();
  const base = builtInStrings[tag] ?? builtInStrings[tag.split('-')[0] ?? ''] ?? en;
  return overrides ? { ...base, ...overrides } : base;
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
