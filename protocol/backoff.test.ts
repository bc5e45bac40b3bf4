import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.ts';
import { RESEND_BACKOFF } from '../widget/controllers/outbox.ts';

describe('backoffDelay', () => {
  const policy = { baseDelayMs: 1000, maxDelayMs: 60_000 };
  it('doubles per attempt with equal jitter and a cap (the bridge queues)', () => {
    expect(backoffDelay(policy, 1, () => 0)).toBe(500);
    expect(backoffDelay(policy, 1, () => 0.999999)).toBe(1000);
    expect(backoffDelay(policy, 3, () => 0)).toBe(2000);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(3000);
    expect(backoffDelay(policy, 30, () => 0.999999)).toBe(60_000);
  });

  it('grows exponentially up to the cap and is jittered between a fixed floor and the ceiling (the widget resends)', () => {
    expect(backoffDelay(RESEND_BACKOFF, 1, () => 0)).toBe(250);
    expect(backoffDelay(RESEND_BACKOFF, 1, () => 1)).toBe(500);
    expect(backoffDelay(RESEND_BACKOFF, 4, () => 0)).toBe(250);
    expect(backoffDelay(RESEND_BACKOFF, 4, () => 1)).toBe(4000);
    expect(backoffDelay(RESEND_BACKOFF, 50, () => 1)).toBe(30_000);
    const samples = new Set(Array.from({ length: 20 }, () => backoffDelay(RESEND_BACKOFF, 5)));
    expect(samples.size).toBeGreaterThan(1);
  });
});
