import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { messageValues, placeholderFor, whatsappMessageSchema, whatsappWebhookSchema } from './whatsapp-payload.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');

describe('WhatsApp payload schemas', () => {
  it('run on byte-exact copies of the shared fixtures', () => {
    const digests = Object.fromEntries(
      readFileSync(join(FIXTURES, 'README.md'), 'utf8')
        .split('\n')
        .map((line) => /^([0-9a-f]{64}) {2}(\S+\.json)$/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[2], m[1]]),
    );
    expect(Object.keys(digests)).toHaveLength(5);
    for (const [file, digest] of Object.entries(digests)) {
      expect(createHash('sha256').update(readFileSync(join(FIXTURES, file))).digest('hex'), file).toBe(digest);
    }
  });

  it('parse every fixture and find its statuses or messages', () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
    expect(files.length).toBe(5);
    for (const file of files) {
      const parsed = whatsappWebhookSchema.parse(JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')));
      const { values, invalid } = messageValues(parsed);
      expect(invalid).toBe(0);
      expect(values.length).toBe(1);
      expect((values[0]?.statuses?.length ?? 0) + (values[0]?.messages?.length ?? 0)).toBe(1);
    }
  });

  it('tolerates unknown and missing optional fields (recipient_user_id, no recipient_id, non-wamid ids)', () => {
    const body = {
      object: 'whatsapp_business_account',
      entry: [{ id: '1', changes: [{ field: 'messages', value: { statuses: [{ id: 'ABGGFlA5FpafAgo6EA', status: 'read', timestamp: '1700000000', recipient_user_id: 'US.123', new_thing: { x: 1 } }] } }] }],
      extra: true,
    };
    const { values } = messageValues(whatsappWebhookSchema.parse(body));
    expect(values[0]?.statuses?.[0]?.id).toBe('ABGGFlA5FpafAgo6EA');
  });

  it('gives readable placeholders for non-text messages', () => {
    const m = (o: Record<string, unknown>) => whatsappMessageSchema.parse({ id: 'x', from: '1', ...o });
    expect(placeholderFor(m({ type: 'image', image: { id: '1', mime_type: 'image/jpeg' } }))).toBe('[image]');
    expect(placeholderFor(m({ type: 'image', image: { caption: 'my cat' } }))).toBe('[image] my cat');
    expect(placeholderFor(m({ type: 'document', document: { filename: 'invoice.pdf' } }))).toBe('[document] invoice.pdf');
    expect(placeholderFor(m({ type: 'reaction', reaction: { emoji: '👍', message_id: 'y' } }))).toBe('[reaction 👍]');
    expect(placeholderFor(m({ type: 'sticker', sticker: {} }))).toBe('[sticker]');
    expect(placeholderFor(m({ type: 'unsupported' }))).toBe('[unsupported]');
  });
});
