import { describe, expect, it } from 'vitest';
import type { DecodedMessage } from '@xmtp/browser-sdk';
import { ContentTypeReadReceipt } from '@xmtp/content-type-read-receipt';
import { chatMessageContentType, decodeChatMessage, encodeChatMessage } from './chat-message-codec.ts';
import { XmtpLedger } from './xmtp-ledger.ts';

const VISITOR = 'inbox-visitor';
const SUPPORT = 'inbox-support';
let clock = Date.parse('2026-11-24T10:00:00Z');

/** A decoded XMTP message with the fields the SDK's DecodedMessage carries (what the ledger reads). */
function decoded(sender: string, content: { type: 'chat'; clientId: string; text: string; agentName?: string } | { type: 'text'; text: string } | { type: 'read' }): DecodedMessage<unknown> {
  clock += 1000;
  const base = { id: `m-${clock}`, senderInboxId: sender, sentAtNs: BigInt(clock) * 1_000_000n };
  if (content.type === 'chat') {
    // Round-trip through the codec, as the SDK does with a registered codec.
    const encoded = encodeChatMessage({ clientId: content.clientId, text: content.text, ...(content.agentName ? { agentName: content.agentName } : {}) });
    return { ...base, contentType: chatMessageContentType, content: decodeChatMessage(encoded) } as unknown as DecodedMessage<unknown>;
  }
  // Read receipts carry the type id of @xmtp/content-type-read-receipt, which both sides send.
  const contentType =
    content.type === 'text' ? { authorityId: 'xmtp.org', typeId: 'text', versionMajor: 1, versionMinor: 0 } : ContentTypeReadReceipt;
  return { ...base, contentType, content: content.type === 'text' ? content.text : {} } as unknown as DecodedMessage<unknown>;
}

describe('XmtpLedger', () => {
  it('numbers messages in arrival order, tells own from the other side, keeps clientIds and agent names', () => {
    const ledger = new XmtpLedger('dm-1', () => VISITOR, 'visitor');
    ledger.ingest(decoded(VISITOR, { type: 'chat', clientId: 'c1', text: 'hello' }));
    ledger.ingest(decoded(SUPPORT, { type: 'chat', clientId: 'console-1', text: 'hi there', agentName: 'Sam' }));
    const plain = decoded(SUPPORT, { type: 'text', text: 'from another XMTP app' });
    ledger.ingest(plain);
    expect(ledger.messages.map((m) => [m.seq, m.author.role, m.clientId, m.text])).toEqual([
      [1, 'visitor', 'c1', 'hello'],
      [2, 'agent', 'console-1', 'hi there'],
      [3, 'agent', `xmtp-${(plain as unknown as { id: string }).id}`, 'from another XMTP app'],
    ]);
    expect(ledger.messages[1]!.author.name).toBe('Sam');
    expect(ledger.messages.map((m) => m.rev)).toEqual([1, 2, 3]);
  });

  it('ignores repeats of the same XMTP message (stream echo after send, re-listing)', () => {
    const ledger = new XmtpLedger('dm-1', () => VISITOR, 'visitor');
    const message = decoded(VISITOR, { type: 'chat', clientId: 'c1', text: 'once' });
    const id = (message as unknown as { id: string }).id;
    const sent = ledger.appendSent({ id, clientId: 'c1', text: 'once', sentAt: new Date() });
    expect(ledger.ingest(message).added).toBeUndefined();
    expect(ledger.ingest(message).added).toBeUndefined();
    expect(ledger.messages).toEqual([sent]);
  });

  it('shows a clientId published twice by the same side once (a retried send; this SDK has no idempotency key)', () => {
    const ledger = new XmtpLedger('dm-1', () => SUPPORT, 'agent');
    const first = decoded(VISITOR, { type: 'chat', clientId: 'c1', text: 'hello' });
    const copy = decoded(VISITOR, { type: 'chat', clientId: 'c1', text: 'hello' });
    expect(ledger.ingest(first).added?.seq).toBe(1);
    expect(ledger.ingest(copy).added).toBeUndefined();
    // The same clientId from the other side is a different message.
    expect(ledger.ingest(decoded(SUPPORT, { type: 'chat', clientId: 'c1', text: 'answer' })).added?.seq).toBe(2);
    // A retried send of this side's own message answers with the message already shown.
    const retried = ledger.appendSent({ id: 'm-retry', clientId: 'c1', text: 'answer', sentAt: new Date() });
    expect(retried.seq).toBe(2);
    expect(ledger.ingest(copy).added).toBeUndefined();
    expect(ledger.messages.map((m) => [m.seq, m.author.role, m.clientId])).toEqual([
      [1, 'visitor', 'c1'],
      [2, 'agent', 'c1'],
    ]);
  });

  it("turns own messages read on the other side's read receipt, and only those sent before it", () => {
    const ledger = new XmtpLedger('dm-1', () => VISITOR, 'visitor');
    ledger.ingest(decoded(VISITOR, { type: 'chat', clientId: 'c1', text: 'one' }));
    ledger.ingest(decoded(VISITOR, { type: 'chat', clientId: 'c2', text: 'two' }));
    const { statusChanges } = ledger.ingest(decoded(SUPPORT, { type: 'read' }));
    ledger.ingest(decoded(VISITOR, { type: 'chat', clientId: 'c3', text: 'three' }));
    expect(statusChanges.map((c) => [c.clientId, c.status, c.seq])).toEqual([
      ['c1', 'read', 1],
      ['c2', 'read', 2],
    ]);
    expect(ledger.messages.map((m) => m.status)).toEqual(['read', 'read', 'sent']);
    // Status changes bump the rev, so a sync after the old cursor carries them.
    expect(ledger.since(2).map((m) => m.clientId).sort()).toEqual(['c1', 'c2', 'c3']);
    // An own read receipt (echoed back) changes nothing.
    expect(ledger.ingest(decoded(VISITOR, { type: 'read' })).statusChanges).toEqual([]);
  });

  it('reports whether a read receipt is due: only for unread messages of the other side', () => {
    const ledger = new XmtpLedger('dm-1', () => SUPPORT, 'agent');
    ledger.ingest(decoded(VISITOR, { type: 'chat', clientId: 'c1', text: 'question' }));
    ledger.ingest(decoded(SUPPORT, { type: 'chat', clientId: 'a1', text: 'answer' }));
    expect(ledger.messages.map((m) => m.author.role)).toEqual(['visitor', 'agent']);
    expect(ledger.markRead(1)).toBe(true);
    expect(ledger.markRead(1)).toBe(false);
    expect(ledger.markRead(2)).toBe(false);
  });

  it('pages history by seq', () => {
    const ledger = new XmtpLedger('dm-1', () => VISITOR, 'visitor');
    for (let i = 1; i <= 5; i++) ledger.ingest(decoded(VISITOR, { type: 'chat', clientId: `c${i}`, text: `m${i}` }));
    expect(ledger.page(undefined, 2)).toMatchObject({ hasMore: true, messages: [{ seq: 4 }, { seq: 5 }] });
    expect(ledger.page(4, 10)).toMatchObject({ hasMore: false });
    expect(ledger.page(4, 10).messages.map((m) => m.seq)).toEqual([1, 2, 3]);
  });
});
