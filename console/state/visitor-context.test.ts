/** The visitor-context panel's wording (#13): only http(s) URLs become links; local time from the zone or the offset. */
import { describe, expect, it } from 'vitest';
import { formatUtcOffset, languageName, safeHref, visitorLocalTime } from './visitor-context.ts';

describe('visitor context wording', () => {
  it('links http and https URLs only', () => {
    expect(safeHref('https://shop.example.com/boots?size=42#reviews')).toBe('https://shop.example.com/boots?size=42#reviews');
    expect(safeHref('http://shop.example.com/')).toBe('http://shop.example.com/');
    for (const url of ['javascript:alert(1)', 'JAVASCRIPT:alert(1)', 'data:text/html,<b>x</b>', 'file:///etc/passwd', 'not a url', '']) {
      expect(safeHref(url), url).toBeUndefined();
    }
  });

  it('writes UTC offsets as ±HH:MM', () => {
    expect(formatUtcOffset(60)).toBe('UTC+01:00');
    expect(formatUtcOffset(330)).toBe('UTC+05:30');
    expect(formatUtcOffset(-210)).toBe('UTC−03:30');
    expect(formatUtcOffset(0)).toBe('UTC+00:00');
  });

  it("tells the visitor's local time from their zone (daylight saving included), else from the offset", () => {
    const summer = new Date('2026-07-01T12:00:00Z');
    // Reported in winter (+60), read in summer: the zone knows Berlin is on +02:00 now.
    expect(visitorLocalTime({ timeZone: 'Europe/Berlin', utcOffsetMinutes: 60 }, summer, 'en-GB')).toBe('Wed 14:00');
    expect(visitorLocalTime({ utcOffsetMinutes: 60 }, summer, 'en-GB')).toBe('Wed 13:00');
    expect(visitorLocalTime({ timeZone: 'Mars/Olympus_Mons', utcOffsetMinutes: -300 }, summer, 'en-GB')).toBe('Wed 07:00');
  });

  it('names languages where the runtime can', () => {
    expect(languageName('de-DE', 'en')).toBe('German (Germany)');
    expect(languageName('zz-not-a-tag!', 'en')).toBeUndefined();
  });
});
