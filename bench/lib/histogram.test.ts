import { describe, expect, it } from 'vitest';
import { Histogram } from './histogram.ts';

describe('Histogram', () => {
  it('returns exact percentiles for values below 1.024 ms (1 µs buckets)', () => {
    const h = new Histogram();
    for (let us = 1; us <= 1000; us++) h.record(us / 1000);
    expect(h.percentile(0.5)).toBe(0.5);
    expect(h.percentile(0.99)).toBe(0.99);
    expect(h.percentile(0.999)).toBe(0.999);
    expect(h.summary()).toMatchObject({ count: 1000, min: 0.001, max: 1 });
    expect(h.summary().mean).toBeCloseTo(0.5005, 3);
  });

  it('keeps large values within 0.2 % and never reports below the true percentile', () => {
    const h = new Histogram();
    const values = Array.from({ length: 10_000 }, (_, i) => 1 + i * 0.731); // 1 ms … 7.3 s
    for (const v of values) h.record(v);
    for (const q of [0.5, 0.9, 0.99, 0.999]) {
      const exact = values[Math.ceil(q * values.length) - 1]!;
      const got = h.percentile(q);
      expect(got).toBeGreaterThanOrEqual(exact - 0.001);
      expect((got - exact) / exact).toBeLessThan(0.002);
    }
    expect(h.percentile(1)).toBeCloseTo(values.at(-1)!, 3);
  });

  it('merges counts, and an empty histogram reports NaN rather than zero', () => {
    const a = new Histogram();
    const b = new Histogram();
    expect(Number.isNaN(a.percentile(0.5))).toBe(true);
    a.record(1);
    b.record(3);
    b.record(5);
    a.merge(b);
    expect(a.count).toBe(3);
    expect(a.percentile(0.5)).toBeCloseTo(3, 2);
    expect(a.summary().max).toBe(5);
  });
});
