/**
 * Hostile inputs for the fuzz cases: fast-check arbitraries of wrong types, huge strings, deep nesting,
 * prototype-pollution keys, lone surrogates, enormous arrays, plus raw JSON texts (with `__proto__` as a real
 * own key, which a JS object literal cannot express) and raw byte bodies that are not valid UTF-8.
 */
import fc from 'fast-check';

/** Keys that poison naive object merging or shadow Object.prototype members. */
export const POISON_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
  '__lookupGetter__',
  'then',
  'toJSON',
] as const;

/** Strings that break naive handling: empty, blank, control characters, lone surrogates, RTL overrides, NULs. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\t\n\r ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud83dy',
  '\u202e\u202dreversed',
  '\ufeff',
  '\u200b',
  '0',
  '-1',
  'NaN',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
  '../../etc/passwd',
  'conv:other',
  'agents',
  '/agent',
  '%00',
  '${7*7}',
  "' OR 1=1 --",
  'a'.repeat(65),
  'a'.repeat(4001),
] as const;

/** A string that is sometimes ordinary, sometimes nasty, sometimes huge (up to `maxHuge` code units). */
export function hostileString(maxHuge = 200_000): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 2, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('a', '\ud800', '€', '😀', ' '), fc.integer({ min: 4001, max: maxHuge }))
        .map(([unit, n]) => unit.repeat(n)),
    },
  );
}

/** Scalars of every JSON (and some non-JSON) type; strings up to `maxHuge` code units. */
export function hostileScalar(maxHuge = 200_000): fc.Arbitrary<unknown> {
  return fc.oneof(
    hostileString(maxHuge),
    fc.integer(),
    fc.constantFrom(-1, -0, 0.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, NaN, Infinity, -Infinity),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
  );
}

/** Nested arrays `depth` deep: `[[[…]]]`. */
export function deepArray(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Nested objects `depth` deep under key `k`. */
export function deepObject(depth: number, key = 'a'): unknown {
  let v: unknown = {};
  for (let i = 0; i < depth; i++) v = { [key]: v };
  return v;
}

/**
 * Any hostile JSON-ish value: scalars, objects with poison keys, deep nesting, enormous arrays. `maxHuge` bounds
 * the huge strings and arrays (just over a frame limit is as hostile as far over it, and much cheaper to make).
 */
export function hostileValue(maxHuge = 200_000, maxDepth = 3000): fc.Arbitrary<unknown> {
  const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      { weight: 4, arbitrary: hostileScalar(maxHuge) },
      { weight: 1, arbitrary: fc.array(tie('tree'), { maxLength: 5 }) },
      {
        weight: 1,
        arbitrary: fc
          .array(fc.tuple(fc.oneof(fc.constantFrom(...POISON_KEYS), fc.string({ maxLength: 12 })), tie('tree')), {
            maxLength: 5,
          })
          // defineProperty so `__proto__` becomes an own key, as JSON.parse would produce on the server.
          .map((entries) => {
            const o: Record<string, unknown> = {};
            for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
            return o;
          }),
      },
    ),
  }));
  return fc.oneof(
    { weight: 10, arbitrary: tree },
    { weight: 1, arbitrary: fc.integer({ min: Math.min(100, maxDepth), max: maxDepth }).map((d) => deepArray(d)) },
    { weight: 1, arbitrary: fc.integer({ min: Math.min(100, maxDepth), max: maxDepth }).map((d) => deepObject(d, '__proto__')) },
    { weight: 1, arbitrary: fc.integer({ min: Math.min(10_000, maxHuge), max: maxHuge }).map((n) => new Array<number>(n).fill(0)) },
  );
}

/**
 * Mutations of a valid payload: one field replaced by a hostile value, an extra (poison) key, a missing field,
 * or the whole payload replaced. `valid` gives a fresh valid payload each call.
 */
export function mutatedPayload(valid: () => Record<string, unknown>, maxHuge = 200_000, maxDepth = 3000): fc.Arbitrary<unknown> {
  const keys = Object.keys(valid());
  return fc.oneof(
    fc.tuple(fc.constantFrom(...keys), hostileValue(maxHuge, maxDepth)).map(([k, v]) => ({ ...valid(), [k]: v })),
    fc.tuple(fc.constantFrom(...POISON_KEYS, 'conversationId', 'room', 'visitorId', 'role'), hostileValue(maxHuge, maxDepth)).map(([k, v]) => {
      const o = valid();
      Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
      return o;
    }),
    fc.constantFrom(...keys).map((k) => {
      const o = valid();
      delete o[k];
      return o;
    }),
    hostileValue(maxHuge, maxDepth),
  );
}

/** Raw JSON texts a JS value cannot express: own `__proto__` keys, duplicate keys, huge numbers, deep nesting. */
export const RAW_JSON_TEXTS: readonly string[] = [
  '{"__proto__":{"admin":true},"text":"x","clientId":"c1"}',
  '{"constructor":{"prototype":{"admin":true}},"text":"x","clientId":"c1"}',
  '{"text":"x","text":"y","clientId":"c1"}',
  '{"text":"x","clientId":"c1","clientId":"c2"}',
  '{"text":1e400,"clientId":"c1"}',
  '{"afterRev":1e400}',
  '{"afterRev":-0}',
  '{"upToSeq":9007199254740993,"status":"read"}',
  '['.repeat(5000) + ']'.repeat(5000),
  '{"a":'.repeat(3000) + '1' + '}'.repeat(3000),
  '',
  'null',
  'true',
  '"string"',
  '[]',
  '{',
  '{"text":"unterminated',
  '{"text":"\\ud800","clientId":"c1"}',
  '{"text":"\\u0000","clientId":"c1"}',
];

/** Bodies that are not valid UTF-8 (overlong forms, lone continuation bytes, truncated sequences, surrogates). */
export const INVALID_UTF8_BODIES: readonly Buffer[] = [
  Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
  Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d]),
  Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]),
  Buffer.from([0x7b, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3a, 0x22, 0xe2, 0x82, 0x22, 0x7d]),
  Buffer.from([0x80, 0x80, 0x80]),
  Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
  Buffer.from([0x00, 0x00, 0x00, 0x00]),
];
