/**
 * Business hours: an optional weekly schedule in one IANA time zone. Outside it the whole team counts as Away for
 * visitors, whatever each agent set. Time-zone arithmetic is Intl's (the runtime's tz database), so daylight-saving
 * changes follow the zone's rules without a date library.
 */

/** Days of the week, Monday first, as keys of `BusinessHours.weekly`. */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** One opening period of a day in local time: `from` inclusive, `to` exclusive (`HH:MM`, `to` may be `24:00`). */
export interface OpeningPeriod {
  from: string;
  to: string;
}

/** `GET/PUT /api/settings/business-hours`. */
export interface BusinessHours {
  /** Off: only each agent's own Online/Away counts. */
  enabled: boolean;
  /** IANA time zone the schedule is in, e.g. `Europe/Berlin`. */
  timeZone: string;
  /** Opening periods per day; a day without any is closed all day. */
  weekly: Record<Weekday, OpeningPeriod[]>;
}

/** What a bridge without stored business hours answers: off, Monday to Friday 09:00–17:00 UTC ready to switch on. */
export const DEFAULT_BUSINESS_HOURS: BusinessHours = {
  enabled: false,
  timeZone: 'UTC',
  weekly: {
    mon: [{ from: '09:00', to: '17:00' }],
    tue: [{ from: '09:00', to: '17:00' }],
    wed: [{ from: '09:00', to: '17:00' }],
    thu: [{ from: '09:00', to: '17:00' }],
    fri: [{ from: '09:00', to: '17:00' }],
    sat: [],
    sun: [],
  },
};

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True when the runtime knows `timeZone` as an IANA zone (or `UTC`). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The weekday and `HH:MM` wall-clock time at `at` in `timeZone`. */
export function localTime(at: Date, timeZone: string): { weekday: Weekday; time: string } {
  const parts = formatterFor(timeZone).formatToParts(at);
  const part = (type: Intl.DateTimeFormatPartTypes): string => parts.find((p) => p.type === type)?.value ?? '';
  const weekday = part('weekday').slice(0, 3).toLowerCase() as Weekday;
  return { weekday, time: `${part('hour')}:${part('minute')}` };
}

/** True when the schedule is off or `at` falls in one of the day's opening periods (local time of its zone). */
export function isWithinBusinessHours(hours: BusinessHours, at: Date): boolean {
  if (!hours.enabled) return true;
  const { weekday, time } = localTime(at, hours.timeZone);
  return hours.weekly[weekday].some((period) => period.from <= time && time < period.to);
}
