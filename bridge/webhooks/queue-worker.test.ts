import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter } from './queue-worker.ts';

describe('backoffDelay', () => {
  const policy = { maxAttempts: 10, baseDelayMs: 1000, maxDelayMs: 60_000 };
  it('doubles per attempt with equal jitter and a cap', () => {
    expect(backoffDelay(policy, 1, () => 0)).toBe(500);
    expect(backoffDelay(policy, 1, () => 0.999999)).toBe(1000);
    expect(backoffDelay(policy, 3, () => 0)).toBe(2000);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(3000);
    expect(backoffDelay(policy, 30, () => 0.999999)).toBe(60_000);
  });
});

describe('parseRetryAfter', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
