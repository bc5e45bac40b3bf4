/**
 * HDR-style latency histogram: log-linear buckets with ≤ 0.2 % relative error from 1 µs to hours, constant
 * memory, so millions of samples cost nothing to record and percentiles (p50/p99/p99.9) come out exact to the
 * bucket. Values are recorded in milliseconds and stored as integer microseconds.
 */

const SUB_BITS = 10;
const SUB = 1 << SUB_BITS; // values below this are stored exactly (1 µs resolution)
const HALF = SUB >> 1;
const MAX_SHIFT = 32;
const SIZE = SUB + MAX_SHIFT * HALF;

function bucketOf(us: number): number {
  if (us < SUB) return us;
  const msb = 31 - Math.clz32(us);
  const shift = msb - (SUB_BITS - 1);
  return SUB + (shift - 1) * HALF + ((us >>> shift) - HALF);
}

function highestOf(bucket: number): number {
  if (bucket < SUB) return bucket;
  const shift = Math.floor((bucket - SUB) / HALF) + 1;
  const mantissa = ((bucket - SUB) % HALF) + HALF;
  return ((mantissa + 1) << shift) - 1;
}

/** Summary of a histogram in milliseconds. */
export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** A latency histogram in milliseconds. */
export class Histogram {
  private readonly counts = new Float64Array(SIZE);
  private total = 0;
  private sum = 0;
  private minUs = Number.POSITIVE_INFINITY;
  private maxUs = 0;

  /** Records one value in milliseconds (negative values count as 0). */
  record(ms: number): void {
    const us = Math.min(0xffffffff, Math.max(0, Math.ceil(ms * 1000)));
    this.counts[bucketOf(us)]! += 1;
    this.total += 1;
    this.sum += us;
    if (us < this.minUs) this.minUs = us;
    if (us > this.maxUs) this.maxUs = us;
  }

  get count(): number {
    return this.total;
  }

  /** The value (ms) at or below which `q` (0..1) of the samples lie; the bucket's highest value, so never flattering. */
  percentile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(highestOf(i), this.maxUs) / 1000;
    }
    return this.maxUs / 1000;
  }

  /** Adds every sample of `other`. */
  merge(other: Histogram): void {
    for (let i = 0; i < SIZE; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.sum += other.sum;
    this.minUs = Math.min(this.minUs, other.minUs);
    this.maxUs = Math.max(this.maxUs, other.maxUs);
  }

  /** The usual figures, rounded to microseconds. */
  summary(): LatencySummary {
    const r = (ms: number) => Math.round(ms * 1000) / 1000;
    return {
      count: this.total,
      min: this.total ? r(this.minUs / 1000) : Number.NaN,
      mean: this.total ? r(this.sum / this.total / 1000) : Number.NaN,
      p50: r(this.percentile(0.5)),
      p90: r(this.percentile(0.9)),
      p99: r(this.percentile(0.99)),
      p999: r(this.percentile(0.999)),
      max: r(this.maxUs / 1000),
    };
  }

  /** Points of the cumulative distribution for charts: [percentile, ms] at log-spaced quantiles up to max. */
  distribution(): [number, number][] {
    const qs = [0, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1];
    return this.total ? qs.map((q) => [q, q === 0 ? this.minUs / 1000 : q === 1 ? this.maxUs / 1000 : this.percentile(q)]) : [];
  }
}
