/**
 * Typing indicators both ways: the visitor's typing is sent at most every TYPING_THROTTLE_MS and stopped after a
 * pause or a send; the agent's indicator shows until they stop or TYPING_TTL_MS passes without a refresh.
 */
import type { ReactiveController } from 'lit';
import { TYPING_THROTTLE_MS, TYPING_TTL_MS } from '../../protocol/limits.ts';
import type { ChatHost } from './chat-host.ts';
import type { ConnectionController } from './connection-controller.ts';

/** How long after the last keystroke the visitor counts as no longer typing. */
const IDLE_MS = 3000;

/** Incoming and outgoing typing state. */
export class TypingController implements ReactiveController {
  /** Name of the agent typing now ('' for an unnamed agent), undefined when nobody is. */
  agentTyping: string | undefined;
  #lastSent = 0;
  #typing = false;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #ttlTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly host: ChatHost, private readonly connection: ConnectionController) {
    host.addController(this);
    connection.on('typing', (event) => {
      if (event.role !== 'agent') return;
      clearTimeout(this.#ttlTimer);
      this.agentTyping = event.typing ? (event.name ?? '') : undefined;
      if (event.typing) this.#ttlTimer = setTimeout(() => this.#clearAgent(), TYPING_TTL_MS);
      host.requestUpdate();
    });
    // A reply ends the agent's typing even if their "stopped" event got lost.
    connection.on('message', (m) => {
      if (m.author.role === 'agent') this.#clearAgent();
    });
    connection.on('state', (state) => {
      if (state !== 'online') this.#clearAgent();
    });
  }

  hostConnected(): void {}

  hostDisconnected(): void {
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#ttlTimer);
  }

  #clearAgent(): void {
    clearTimeout(this.#ttlTimer);
    if (this.agentTyping === undefined) return;
    this.agentTyping = undefined;
    this.host.requestUpdate();
  }

  /** The visitor edited the draft. */
  input(draft: string): void {
    if (draft.trim() === '') {
      this.stop();
      return;
    }
    const now = Date.now();
    if (!this.#typing || now - this.#lastSent >= TYPING_THROTTLE_MS) {
      this.#typing = true;
      this.#lastSent = now;
      this.connection.transport?.typing(true);
    }
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.stop(), IDLE_MS);
  }

  /** The visitor sent or cleared the draft. */
  stop(): void {
    clearTimeout(this.#idleTimer);
    if (!this.#typing) return;
    this.#typing = false;
    this.connection.transport?.typing(false);
  }
}
