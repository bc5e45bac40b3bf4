/**
 * What anon-chat puts into an XMTP DM: its chat messages (anon-chat's own content type) and read receipts (XMTP's
 * standard `xmtp.org/readReceipt:1.0`, so other XMTP apps understand them too). Shared by the visitor's transport
 * and the console's XMTP inbox; both clients register the codecs of `open-client.ts`.
 */
import type { Dm } from '@xmtp/browser-sdk';
import { ContentTypeReadReceipt, type ReadReceipt } from '@xmtp/content-type-read-receipt';
import { chatMessageContentType, type ChatMessageContent } from './chat-message-codec.ts';

/** Publishes one chat message and resolves with its XMTP message id. */
export function sendChatMessage(dm: Dm<unknown>, content: ChatMessageContent): Promise<string> {
  return dm.send(content, chatMessageContentType);
}

/** Tells the other party that everything sent before now has been read. */
export async function sendReadReceipt(dm: Dm<unknown>): Promise<void> {
  const receipt: ReadReceipt = {};
  await dm.send(receipt, ContentTypeReadReceipt);
}
