/**
 * What an XMTP message means to anon-chat: a chat message (anon-chat's own content type, or plain text/markdown
 * from any other XMTP app), a read receipt, or nothing (membership changes, reactions, …). Shared by the visitor's
 * transport and the console's XMTP inbox.
 */
import type { DecodedMessage } from '@xmtp/browser-sdk';
import { isChatMessageType, type ChatMessageContent } from './chat-message-codec.ts';

/** A chat message read from XMTP. */
export interface XmtpChatItem {
  kind: 'chat';
  id: string;
  senderInboxId: string;
  sentAtNs: bigint;
  sentAt: Date;
  clientId: string;
  text: string;
  agentName?: string;
  bridgeConversationId?: string;
}

/** A read receipt: the sender has read everything sent before `sentAtNs`. */
export interface XmtpReadItem {
  kind: 'read';
  id: string;
  senderInboxId: string;
  sentAtNs: bigint;
  sentAt: Date;
}

/** Prefix of the clientId given to plain-text messages from XMTP apps that know nothing of clientIds. */
export const FOREIGN_CLIENT_ID_PREFIX = 'xmtp-';

/** Classifies one decoded XMTP message; undefined for kinds anon-chat does not show. */
export function readXmtpMessage(message: DecodedMessage): XmtpChatItem | XmtpReadItem | undefined {
  const sentAt = new Date(Number(message.sentAtNs / 1_000_000n));
  const base = { id: message.id, senderInboxId: message.senderInboxId, sentAtNs: message.sentAtNs, sentAt };
  const type = message.contentType;
  if (isChatMessageType(type)) {
    const content = message.content as ChatMessageContent | undefined;
    if (!content || typeof content.text !== 'string' || typeof content.clientId !== 'string') return undefined;
    return {
      kind: 'chat',
      ...base,
      clientId: content.clientId,
      text: content.text,
      ...(content.agentName ? { agentName: content.agentName } : {}),
      ...(content.bridgeConversationId ? { bridgeConversationId: content.bridgeConversationId } : {}),
    };
  }
  if (type.authorityId !== 'xmtp.org') return undefined;
  if ((type.typeId === 'text' || type.typeId === 'markdown') && typeof message.content === 'string') {
    return { kind: 'chat', ...base, clientId: `${FOREIGN_CLIENT_ID_PREFIX}${message.id}`, text: message.content };
  }
  if (type.typeId === 'readReceipt') return { kind: 'read', ...base };
  return undefined;
}
