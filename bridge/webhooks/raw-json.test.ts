import { describe, expect, it } from 'vitest';
import { jsonDepthExceeds } from './raw-json.ts';

describe('jsonDepthExceeds', () => {
  it('counts nesting of objects and arrays, ignoring brackets inside strings', () => {
    expect(jsonDepthExceeds(Buffer.from('{"a":[{"b":1}]}'), 3)).toBe(false);
    expect(jsonDepthExceeds(Buffer.from('{"a":[{"b":[1]}]}'), 3)).toBe(true);
    expect(jsonDepthExceeds(Buffer.from('{"a":"[[[[[[\\"[[[["}'), 1)).toBe(false);
    expect(jsonDepthExceeds(Buffer.from('['.repeat(100_000)), 32)).toBe(true);
  });
});
