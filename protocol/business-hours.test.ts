import { describe, expect, it } from 'vitest';
import { DEFAULT_BUSINESS_HOURS, isTimeZone, isWithinBusinessHours, localTime, type BusinessHours } from './business-hours.ts';

const nineToFive = (timeZone: string): BusinessHours => ({ ...DEFAULT_BUSINESS_HOURS, enabled: true, timeZone });

describe('business hours', () => {
  it('are always open while switched off', () => {
    expect(isWithinBusinessHours(DEFAULT_BUSINESS_HOURS, new Date('2026-03-01T03:00:00Z'))).toBe(true);
  });

  it('read the wall clock of their zone, daylight saving included', () => {
    const newYork = nineToFive('America/New_York');
    // Friday 6 March 2026, EST (UTC-5): 09:00 local is 14:00 UTC.
    expect(isWithinBusinessHours(newYork, new Date('2026-03-06T13:59:00Z'))).toBe(false);
    expect(isWithinBusinessHours(newYork, new Date('2026-03-06T14:00:00Z'))).toBe(true);
    // Monday 9 March 2026, EDT (UTC-4) since the 8th: 09:00 local is 13:00 UTC.
    expect(isWithinBusinessHours(newYork, new Date('2026-03-09T13:00:00Z'))).toBe(true);
    expect(isWithinBusinessHours(newYork, new Date('2026-03-09T20:59:00Z'))).toBe(true);
    expect(isWithinBusinessHours(newYork, new Date('2026-03-09T21:00:00Z'))).toBe(false);
  });

  it('take the weekday of the zone, not of UTC', () => {
    // Saturday 23:30 UTC is already Sunday in Tokyo and still Saturday in Los Angeles.
    const at = new Date('2026-03-07T23:30:00Z');
    expect(localTime(at, 'Asia/Tokyo')).toEqual({ weekday: 'sun', time: '08:30' });
    expect(localTime(at, 'America/Los_Angeles')).toEqual({ weekday: 'sat', time: '15:30' });
    const sundayMornings: BusinessHours = { ...nineToFive('Asia/Tokyo'), weekly: { ...DEFAULT_BUSINESS_HOURS.weekly, sun: [{ from: '08:00', to: '24:00' }] } };
    expect(isWithinBusinessHours(sundayMornings, at)).toBe(true);
    expect(isWithinBusinessHours({ ...sundayMornings, timeZone: 'UTC' }, at)).toBe(false);
  });

  it('know IANA zones only', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
  });
});
