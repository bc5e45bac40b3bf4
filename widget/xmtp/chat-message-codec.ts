/**
 * The XMTP content type anon-chat sends: the message text plus the sender's clientId (and the bridge conversation
 * it belongs to, when the visitor has one). Agents dedupe by clientId across XMTP and the bridge, so a message that
 * reached both (an XMTP send that timed out, then went through the bridge) still shows once.
 * Other XMTP apps show the `fallback` (the plain text).
 */
import { ContentTypeId, type ContentCodec, type EncodedContent } from '@xmtp/content-type-primitives';

/** The decoded content of one anon-chat message carried over XMTP. */
export interface ChatMessageContent {
  clientId: string;
  text: string;
  /** The bridge conversation of the same visitor, so agents can show both as one thread. */
  bridgeConversationId?: string;
  /** Display name of the agent who wrote it (agent side only). */
  agentName?: string;
}

/** `anon-chat.dev/chat-message:1.0` (a ContentTypeId instance: the SDK keys its codecs by its `toString()`). */
export const chatMessageContentType = new ContentTypeId({
  authorityId: 'anon-chat.dev',
  typeId: 'chat-message',
  versionMajor: 1,
  versionMinor: 0,
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** True when an XMTP content type id is anon-chat's chat message (any minor version). */
export function isChatMessageType(type: ContentTypeId | undefined): boolean {
  return (
    type !== undefined &&
    type.authorityId === chatMessageContentType.authorityId &&
    type.typeId === chatMessageContentType.typeId &&
    type.versionMajor === chatMessageContentType.versionMajor
  );
}

/** Encodes a chat message (the SDK calls it through the codec when a conversation sends one). */
export function encodeChatMessage(content: ChatMessageContent): EncodedContent {
  const parameters: Record<string, string> = { clientId: content.clientId };
  if (content.bridgeConversationId) parameters.bridgeConversationId = content.bridgeConversationId;
  if (content.agentName) parameters.agentName = content.agentName;
  return {
    type: chatMessageContentType,
    parameters,
    fallback: content.text,
    content: encoder.encode(content.text),
  };
}

/** Decodes a chat message; throws on a payload without a clientId (the SDK then leaves `content` undefined). */
export function decodeChatMessage(encoded: EncodedContent): ChatMessageContent {
  const clientId = encoded.parameters.clientId;
  if (!clientId) throw new Error('chat-message without clientId');
  const { bridgeConversationId, agentName } = encoded.parameters;
  return {
    clientId,
    text: decoder.decode(encoded.content),
    ...(bridgeConversationId ? { bridgeConversationId } : {}),
    ...(agentName ? { agentName } : {}),
  };
}

/**
 * The codec registered with the client on both the visitor's and the console's side. A class, like the SDK's own
 * codecs: the SDK posts its client options, codecs included, to its worker, and structured cloning refuses
 * functions held as own properties (methods on the prototype are simply left behind).
 */
export class ChatMessageCodec implements ContentCodec<ChatMessageContent> {
  get contentType(): ContentTypeId {
    return chatMessageContentType;
  }

  encode(content: ChatMessageContent): EncodedContent {
    return encodeChatMessage(content);
  }

  decode(encoded: EncodedContent): ChatMessageContent {
    return decodeChatMessage(encoded);
  }

  fallback(content: ChatMessageContent): string {
    return content.text;
  }

  shouldPush(): boolean {
    return true;
  }
}
