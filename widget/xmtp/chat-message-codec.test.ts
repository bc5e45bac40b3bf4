import { describe, expect, it } from 'vitest';
import { ContentTypeReadReceipt, ReadReceiptCodec } from '@xmtp/content-type-read-receipt';
import { ChatMessageCodec, isChatMessageType } from './chat-message-codec.ts';

describe('ChatMessageCodec', () => {
  it('round-trips text, clientId and the linked bridge conversation', () => {
    const codec = new ChatMessageCodec();
    const encoded = codec.encode({ clientId: 'c1', text: 'héllo 👋', bridgeConversationId: 'conv-1' });
    expect(encoded.fallback).toBe('héllo 👋');
    expect(isChatMessageType(encoded.type)).toBe(true);
    expect(codec.decode(encoded)).toEqual({ clientId: 'c1', text: 'héllo 👋', bridgeConversationId: 'conv-1' });
    expect(codec.contentType.toString()).toBe('anon-chat.dev/chat-message:1.0');
  });

  it('survives the structured clone the SDK applies when it posts the client options to its worker', () => {
    // The SDK posts { codecs, … } to its worker: a codec holding functions as own properties throws DataCloneError.
    expect(() => structuredClone({ codecs: [new ChatMessageCodec(), new ReadReceiptCodec()] })).not.toThrow();
  });

  it('is not mistaken for a read receipt, and a read receipt not for a chat message', () => {
    expect(isChatMessageType(ContentTypeReadReceipt)).toBe(false);
    expect(ContentTypeReadReceipt.toString()).toBe('xmtp.org/readReceipt:1.0');
  });
});
