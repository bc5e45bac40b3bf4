import { describe, expect, it } from 'vitest';
import { revStep } from './rev.ts';

describe('revStep', () => {
  it('takes the next rev, ignores ones already had and reports a jump as a gap', () => {
    expect(revStep(4, 5)).toBe('next');
    expect(revStep(4, 4)).toBe('seen');
    expect(revStep(4, 2)).toBe('seen');
    expect(revStep(4, 6)).toBe('gap');
    expect(revStep(0, 1)).toBe('next');
    expect(revStep(0, 9)).toBe('gap');
  });
});
