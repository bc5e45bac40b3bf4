/**
 * Time and day formatting shared by the widget and the agent console, localized through Intl.
 * Formatters are cached per locale because message lists call these thousands of times.
 */

const timeFormats = new Map<string, Intl.DateTimeFormat>();
const dateFormats = new Map<string, Intl.DateTimeFormat>();
const dateWithYearFormats = new Map<string, Intl.DateTimeFormat>();
const relativeFormats = new Map<string, Intl.RelativeTimeFormat>();

function cached<T>(map: Map<string, T>, locale: string, make: (locale: string | undefined) => T): T {
  let formatter = map.get(locale);
  if (!formatter) {
    try {
      formatter = make(locale || undefined);
    } catch {
      // An invalid locale tag throws a RangeError; fall back to the browser's default rather than break rendering.
      formatter = make(undefined);
    }
    map.set(locale, formatter);
  }
  return formatter;
}

/** Hour and minute of an ISO timestamp in the given locale ("14:05", "2:05 PM"). */
export function formatTime(iso: string, locale: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return cached(timeFormats, locale, (l) => new Intl.DateTimeFormat(l, { hour: 'numeric', minute: '2-digit' })).format(date);
}

/** The local calendar day of an ISO timestamp as `YYYY-MM-DD`; equal keys mean the same date separator. */
export function dayKey(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function startOfDay(date: Date): number {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** A date separator label: "Today", "Yesterday" (localized) or a localized date; the year only when not this year. */
export function formatDay(iso: string, locale: string, now: Date = new Date()): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  // Round, not floor: a day across a DST change is 23 or 25 hours long.
  const daysAgo = Math.round((startOfDay(now) - startOfDay(date)) / 86_400_000);
  if (daysAgo === 0 || daysAgo === 1) {
    const relative = cached(relativeFormats, locale, (l) => new Intl.RelativeTimeFormat(l, { numeric: 'auto' }));
    const text = relative.format(-daysAgo, 'day');
    return text.charAt(0).toLocaleUpperCase(locale || undefined) + text.slice(1);
  }
  if (date.getFullYear() === now.getFullYear()) {
    return cached(dateFormats, locale, (l) => new Intl.DateTimeFormat(l, { weekday: 'short', month: 'short', day: 'numeric' })).format(date);
  }
  return cached(dateWithYearFormats, locale, (l) => new Intl.DateTimeFormat(l, { year: 'numeric', month: 'short', day: 'numeric' })).format(date);
}
