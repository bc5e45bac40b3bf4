/** English strings: the default and the reference every translation must cover. */
export const en = {
  title: 'Chat with us',
  greeting: 'Hi! Ask us anything — we usually reply within a few minutes.',
  openChat: 'Open chat',
  closeChat: 'Close chat',
  /** Launcher label suffix when messages are unread; `{count}` is replaced. */
  unreadCount: '{count} unread',
  agentsOnline: 'We are online',
  agentsAway: 'We will reply as soon as we can',
  connecting: 'Connecting…',
  offline: 'Offline — your messages will be sent when the connection is back',
  /** The bridge does not serve this site (its origin is not in ALLOWED_ORIGINS). */
  notAvailableHere: 'This chat is not available here',
  transportRealtime: 'Realtime',
  transportXmtp: 'XMTP',
  messages: 'Messages',
  placeholder: 'Write a message…',
  send: 'Send',
  /** Character counter; `{count}` and `{max}` are replaced. */
  counter: '{count}/{max}',
  newMessages: 'New messages',
  loadingOlder: 'Loading earlier messages…',
  typing: '{name} is typing…',
  /** Announced to screen readers for each received message. */
  announceMessage: '{name}: {text}',
  agent: 'Agent',
  visitor: 'You',
  system: 'System',
  sending: 'Sending',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
  failed: 'Not sent',
  failedPrefix: 'Not sent:',
  retry: 'Retry',
  errorTextTooLong: 'The message is too long.',
  errorTextEmpty: 'The message is empty.',
  errorTextInvalid: 'The message contains a broken character.',
  errorRateLimited: 'Too many messages — try again in a moment.',
  errorForbidden: 'This chat is not available here.',
  errorGeneric: 'The message could not be delivered.',
  eraseConversation: 'Delete conversation',
  eraseConfirm: 'Delete this conversation and everything you wrote? This cannot be undone.',
  eraseYes: 'Delete',
  eraseNo: 'Keep',
  eraseFailed: 'The conversation could not be deleted. Try again.',
};

/** The reply-by-email offer's strings: their texts ship with its module (widget/reply-by-email/reply-by-email-strings.ts). */
export interface ReplyByEmailStrings {
  /** Shown while no agent is online and the bridge can answer by e-mail. */
  emailOffer: string;
  /** `{email}` is replaced. */
  emailSaved: string;
  emailChange: string;
  emailInvalid: string;
}

/**
 * Every user-visible string of the widget; set the `strings` property to override any of them. The built-in
 * translations hold all but the reply-by-email offer's (optional here), which its module brings.
 */
export type WidgetStrings = typeof en & Partial<ReplyByEmailStrings>;
