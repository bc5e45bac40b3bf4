/**
 * The notification mails as queued (#13): who gets them, their subject, plain-text body and extra headers, fixed at
 * enqueue time so every retry sends the same mail. Message text only ever goes into a `text/plain` body, never HTML,
 * and every header value is one line of printable characters.
 */
import { createHash } from 'node:crypto';
import type { Conversation } from '../../protocol/conversation.ts';
import type { Message } from '../../protocol/message.ts';
import { emailAddress } from '../../protocol/schemas.ts';

/** Store queue of notification mails. */
export const MAIL_QUEUE = 'mail';

/** Which notification a mail is. */
export type NotificationKind = 'unanswered' | 'visitor-replies';

/** One queued mail; the queue item id is its notification key. */
export interface NotificationMail {
  kind: NotificationKind;
  conversationId: string;
  to: string[];
  subject: string;
  text: string;
  /** Extra headers (List-Unsubscribe for visitors). */
  headers: Record<string, string>;
}

/**
 * The queue id of a conversation's notification about `messageId`: two nodes (or a restart) finding the same due
 * notification derive the same id, and the store keeps only the first. Starts with `mailIdPrefixOf`.
 */
export function notificationIdOf(conversationId: string, kind: NotificationKind, messageId: string): string {
  return `${mailIdPrefixOf(conversationId)}${kind}:${messageId}`;
}

/** What every mail id of a conversation starts with: erasing the conversation removes them by it. */
export function mailIdPrefixOf(conversationId: string): string {
  return `mail:${conversationId}:`;
}

/** The Message-ID of a queued mail: derived from its queue id, so a resent mail is recognisably the same one. */
export function messageIdOf(itemId: string, from: string): string {
  const domain = from.slice(from.lastIndexOf('@') + 1);
  return `<${createHash('sha256').update(itemId).digest('hex').slice(0, 32)}@${domain}>`;
}

/** One header line: control characters (CR, LF, …) become spaces, so no value can start a header of its own. */
export function headerValue(value: string, max = 200): string {
  const line = value.replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Only well-formed single-line addresses, each once. */
export function validAddresses(addresses: (string | undefined)[]): string[] {
  const valid = addresses.filter((a): a is string => a !== undefined && emailAddress.safeParse(a).success);
  return [...new Set(valid)];
}

/** What a message shows in a mail: its text, and its files by name. */
function messageLines(message: Message): string {
  const files = (message.attachments ?? []).map((file) => `[file: ${file.name}]`);
  return [message.text, ...files].filter((part) => part !== '').join('\n');
}

function quoted(text: string): string {
  return text
    .split('\n')
    .map((line) => `> ${line}`)
    .join('\n');
}

/** The mail to agents about a visitor's messages nobody has answered. */
export function unansweredMail(input: {
  conversation: Conversation;
  messages: Message[];
  to: string[];
  consoleUrl: string;
  waitedMinutes: number;
}): NotificationMail {
  const { conversation, messages } = input;
  const text = [
    `${conversation.name} has been waiting ${input.waitedMinutes} min for an answer:`,
    '',
    ...messages.map((message) => quoted(messageLines(message))),
    '',
    `Answer in the console: ${input.consoleUrl}`,
    '',
  ].join('\n');
  return {
    kind: 'unanswered',
    conversationId: conversation.id,
    to: input.to,
    subject: headerValue(`Unanswered: ${conversation.name}`),
    text,
    headers: {},
  };
}

/** The mail to a visitor with the agents' replies they have not read. */
export function visitorRepliesMail(input: {
  conversation: Conversation & { visitorEmail: string };
  replies: Message[];
  unsubscribeUrl: string;
}): NotificationMail {
  const { conversation, replies } = input;
  const text = [
    replies.length === 1 ? 'You have a reply to your chat:' : `You have ${replies.length} replies to your chat:`,
    '',
    ...replies.map((reply) => `${reply.author.name ?? 'Support'}:\n${quoted(messageLines(reply))}`),
    '',
    ...(conversation.visitorPage ? [`Continue the chat: ${conversation.visitorPage}`, ''] : []),
    `No more of these mails: ${input.unsubscribeUrl}`,
    '',
  ].join('\n');
  return {
    kind: 'visitor-replies',
    conversationId: conversation.id,
    to: [conversation.visitorEmail],
    subject: replies.length === 1 ? 'You have a reply' : `You have ${replies.length} replies`,
    text,
    headers: {
      // RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to the signed link.
      'List-Unsubscribe': `<${headerValue(input.unsubscribeUrl, 2000)}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
  };
}
