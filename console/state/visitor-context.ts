/** How the visitor-context panel words what a visitor reported: safe links, UTC offsets, their local time, languages. */
import type { VisitorContext } from '../../protocol/visitor-context.ts';

/** `url` as a link target when it is an http(s) URL; anything else is shown as text only. */
export function safeHref(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

/** `±HH:MM` of an offset in minutes east of UTC. */
export function formatUtcOffset(minutes: number): string {
  const sign = minutes < 0 ? '−' : '+';
  const abs = Math.abs(minutes);
  return `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * The visitor's wall-clock time at `now`: in their IANA zone when the runtime knows it (daylight saving moves with
 * it), else from the UTC offset they reported.
 */
export function visitorLocalTime(context: Pick<VisitorContext, 'timeZone' | 'utcOffsetMinutes'>, now: Date, locale: string | undefined): string {
  const options: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit', weekday: 'short' };
  if (context.timeZone) {
    try {
      return new Intl.DateTimeFormat(locale, { ...options, timeZone: context.timeZone }).format(now);
    } catch {
      // An unknown zone in this browser: the offset still gives the time.
    }
  }
  return new Intl.DateTimeFormat(locale, { ...options, timeZone: 'UTC' }).format(new Date(now.getTime() + context.utcOffsetMinutes * 60_000));
}

/** The language a BCP 47 tag names, in `locale` (`German (Germany)`); undefined when the runtime has no name for it. */
export function languageName(tag: string, locale: string | undefined): string | undefined {
  try {
    const name = new Intl.DisplayNames(locale, { type: 'language' }).of(tag);
    return name && name !== tag ? name : undefined;
  } catch {
    return undefined;
  }
}
