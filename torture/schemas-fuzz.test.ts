/**
 * Case 4, first layer: every inbound schema against hostile shapes. safeParse never throws, never lets a
 * poison key or a wrong type through, and never pollutes Object.prototype; valid payloads stay accepted.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ZodType } from 'zod';
import * as schemas from '../protocol/schemas.ts';
import { MAX_TEXT_LENGTH } from '../protocol/limits.ts';
import { POISON_KEYS, RAW_JSON_TEXTS, mutatedPayload } from './hostile.ts';

/** One valid payload per schema, so mutations start from something the bridge would accept. */
const VALID: Record<string, () => Record<string, unknown>> = {
  visitorSendSchema: () => ({ clientId: 'c-1', text: 'hello' }),
  visitorSyncSchema: () => ({ afterRev: 0 }),
  visitorHistorySchema: () => ({ beforeSeq: 10, limit: 20 }),
  visitorReceiptSchema: () => ({ upToSeq: 3, status: 'read' }),
  typingSchema: () => ({ typing: true }),
  visitorAuthSchema: () => ({ token: 'x', site: 's', name: 'n', afterRev: 1 }),
  agentSendSchema: () => ({ conversationId: 'conv_1', clientId: 'c-1', text: 'hi' }),
  agentSyncSchema: () => ({ conversationId: 'conv_1', afterRev: 0 }),
  agentHistorySchema: () => ({ conversationId: 'conv_1', beforeSeq: 5, limit: 10 }),
  agentReceiptSchema: () => ({ conversationId: 'conv_1', upToSeq: 2, status: 'delivered' }),
  agentTypingSchema: () => ({ conversationId: 'conv_1', typing: false }),
  conversationListSchema: () => ({ filter: 'open', query: 'q', limit: 50 }),
  agentRetrySchema: () => ({ conversationId: 'conv_1', messageId: 'm_1' }),
  agentAuthSchema: () => ({ token: 'tok' }),
  loginSchema: () => ({ name: 'admin', password: 'pw' }),
  restSendSchema: () => ({ text: 'hi', clientId: 'c-2' }),
  restHistoryQuerySchema: () => ({ before: '10', limit: '5' }),
};

const RUNS_PER_SCHEMA = 300;

function schemaOf(name: string): ZodType {
  return (schemas as unknown as Record<string, ZodType>)[name]!;
}

/** Checks an accepted value: only own keys the valid payload has, strings bounded, numbers finite. */
function assertClean(value: unknown, allowedKeys: readonly string[]): void {
  expect(typeof value).toBe('object');
  for (const key of Object.keys(value as object)) expect(allowedKeys).toContain(key);
  for (const key of POISON_KEYS) expect(Object.prototype.hasOwnProperty.call(value, key)).toBe(false);
  for (const v of Object.values(value as object)) {
    if (typeof v === 'string') expect(v.length).toBeLessThanOrEqual(Math.max(MAX_TEXT_LENGTH, 4096));
    if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true);
    expect(typeof v === 'object' && v !== null).toBe(false);
  }
}

describe('protocol schemas under hostile payloads', () => {
  for (const [name, valid] of Object.entries(VALID)) {
    it(`${name}: never throws, rejects or cleans every hostile shape, accepts the valid one`, () => {
      const schema = schemaOf(name);
      expect(schema.safeParse(valid()).success).toBe(true);
      const allowed = Object.keys(valid()).concat(name === 'visitorAuthSchema' ? ['userId', 'userHash'] : []);
      // A fixed seed: the same inputs every run, so a failure replays as it is and no run passes or fails by the draw.
      fc.assert(
        fc.property(mutatedPayload(valid), (payload) => {
          const result = schema.safeParse(payload);
          if (result.success) assertClean(result.data, allowed);
          expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
        }),
        { numRuns: RUNS_PER_SCHEMA, seed: 42 },
      );
    });
  }

  it('raw JSON texts with own __proto__/constructor keys or duplicate keys are rejected by the strict schemas', () => {
    for (const text of RAW_JSON_TEXTS) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        continue;
      }
      for (const name of Object.keys(VALID)) {
        const result = schemaOf(name).safeParse(parsed);
        if (result.success) assertClean(result.data, Object.keys(VALID[name]!()).concat(['userId', 'userHash']));
      }
    }
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
  });

  it('message text: blank and over-long texts are refused with their codes', () => {
    const r1 = schemas.visitorSendSchema.safeParse({ clientId: 'a', text: ' \n\t ' });
    expect(r1.success).toBe(false);
    expect(r1.error?.issues[0]?.message).toBe('text_empty');
    const r2 = schemas.visitorSendSchema.safeParse({ clientId: 'a', text: 'x'.repeat(MAX_TEXT_LENGTH + 1) });
    expect(r2.success).toBe(false);
    expect(r2.error?.issues.some((i) => i.message === 'text_too_long')).toBe(true);
  });
});
