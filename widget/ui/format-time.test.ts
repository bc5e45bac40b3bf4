import { describe, expect, it } from 'vitest';
import { dayKey, formatDay, formatTime } from './format-time.ts';

const at = (y: number, m: number, d: number, h = 12, min = 0): Date => new Date(y, m - 1, d, h, min);

describe('format-time', () => {
  it('labels today and yesterday relative to now, in the locale', () => {
    const now = at(2026, 3, 10, 9);
    expect(formatDay(at(2026, 3, 10, 1).toISOString(), 'en', now)).toBe('Today');
    expect(formatDay(at(2026, 3, 9, 23).toISOString(), 'en', now)).toBe('Yesterday');
    expect(formatDay(at(2026, 3, 10).toISOString(), 'de', now)).toBe('Heute');
    expect(formatDay(at(2026, 3, 9).toISOString(), 'de', now)).toBe('Gestern');
  });

  it('shows a date for older days, with the year only when it differs', () => {
    const now = at(2026, 3, 10);
    expect(formatDay(at(2026, 1, 5).toISOString(), 'en', now)).toMatch(/Jan 5/);
    expect(formatDay(at(2025, 1, 5).toISOString(), 'en', now)).toMatch(/2025/);
  });

  it('keys messages by local calendar day', () => {
    expect(dayKey(at(2026, 3, 10, 0, 1).toISOString())).toBe('2026-03-10');
    expect(dayKey(at(2026, 3, 10, 23, 59).toISOString())).toBe(dayKey(at(2026, 3, 10, 0, 0).toISOString()));
    expect(dayKey('not a date')).toBe('');
  });

  it('formats hour and minute and survives a bad locale tag', () => {
    expect(formatTime(at(2026, 3, 10, 14, 5).toISOString(), 'en-GB')).toBe('14:05');
    expect(formatTime(at(2026, 3, 10, 14, 5).toISOString(), 'not a locale!')).toMatch(/05/);
  });
});
