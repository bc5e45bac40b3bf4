/**
 * The public DOM events of `<anon-chat>`: all bubble and are composed, so a host page can listen on the element or
 * on `document`. Typed through `GlobalEventHandlersEventMap` so `addEventListener` knows each `detail`.
 */
import type { Message, MessageFailure } from '../protocol/message.ts';
import type { MessageStatus } from '../protocol/status.ts';
import type { ConnectionState, TransportKind } from './transports/transport.ts';

/** `anon-chat-message`: a message from the other side (agent or system) arrived. */
export interface AnonChatMessageDetail {
  message: Message;
}

/** `anon-chat-status`: one of the visitor's own messages changed status (sending, sent, delivered, read, failed). */
export interface AnonChatStatusDetail {
  clientId: string;
  /** Server id, once stored. */
  messageId?: string;
  status: MessageStatus;
  text: string;
  failure?: MessageFailure;
}

/** `anon-chat-unread`: the number of unread messages changed. */
export interface AnonChatUnreadDetail {
  unread: number;
}

/** `anon-chat-connection`: the connection state changed. */
export interface AnonChatConnectionDetail {
  state: ConnectionState;
  transport: TransportKind;
}

/** `anon-chat-open` / `anon-chat-close`: the panel opened or closed (by the visitor or through the API). */
export type AnonChatToggleDetail = Record<string, never>;

/** `anon-chat-erased`: the conversation was erased; the widget continues as a new visitor. */
export type AnonChatErasedDetail = Record<string, never>;

/** Every public event name with its detail type. */
export interface AnonChatEventMap {
  'anon-chat-open': AnonChatToggleDetail;
  'anon-chat-close': AnonChatToggleDetail;
  'anon-chat-message': AnonChatMessageDetail;
  'anon-chat-status': AnonChatStatusDetail;
  'anon-chat-unread': AnonChatUnreadDetail;
  'anon-chat-connection': AnonChatConnectionDetail;
  'anon-chat-erased': AnonChatErasedDetail;
}

/** Dispatches a public event from `target` (bubbling, composed). */
export function emit<K extends keyof AnonChatEventMap>(target: EventTarget, type: K, detail: AnonChatEventMap[K]): void {
  target.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
}

declare global {
  interface GlobalEventHandlersEventMap {
    'anon-chat-open': CustomEvent<AnonChatToggleDetail>;
    'anon-chat-close': CustomEvent<AnonChatToggleDetail>;
    'anon-chat-message': CustomEvent<AnonChatMessageDetail>;
    'anon-chat-status': CustomEvent<AnonChatStatusDetail>;
    'anon-chat-unread': CustomEvent<AnonChatUnreadDetail>;
    'anon-chat-connection': CustomEvent<AnonChatConnectionDetail>;
    'anon-chat-erased': CustomEvent<AnonChatErasedDetail>;
  }
}
