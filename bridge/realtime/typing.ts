/**
 * Typing indicators: forwarded at most once per TYPING_THROTTLE_MS per socket and conversation, and ended by the
 * bridge itself after TYPING_TTL_MS without a refresh or when the socket goes away, so an indicator never sticks.
 */
import { TYPING_THROTTLE_MS, TYPING_TTL_MS } from '../../protocol/limits.ts';

interface TypingState {
  typing: boolean;
  forwardedAt: number;
  timer?: NodeJS.Timeout;
}

/** Tracks one socket's typing per conversation and decides what to forward. */
export class TypingTracker {
  private readonly states = new Map<string, TypingState>();

  constructor(
    private readonly now: () => number,
    /** Sends the indicator to the rooms it belongs to. */
    private readonly forward: (conversationId: string, typing: boolean) => void,
  ) {}

  /** A typing event from the client. */
  update(conversationId: string, typing: boolean): void {
    const state = this.states.get(conversationId) ?? { typing: false, forwardedAt: 0 };
    this.states.set(conversationId, state);
    clearTimeout(state.timer);
    state.timer = undefined;
    if (!typing) {
      if (state.typing) this.send(state, conversationId, false);
      this.states.delete(conversationId);
      return;
    }
    const now = this.now();
    if (!state.typing || now - state.forwardedAt >= TYPING_THROTTLE_MS) {
      this.send(state, conversationId, true);
      state.forwardedAt = now;
    }
    state.timer = setTimeout(() => this.update(conversationId, false), TYPING_TTL_MS);
    state.timer.unref();
  }

  /** The socket left: end every indicator it started. */
  stopAll(): void {
    for (const conversationId of [...this.states.keys()]) this.update(conversationId, false);
  }

  private send(state: TypingState, conversationId: string, typing: boolean): void {
    state.typing = typing;
    this.forward(conversationId, typing);
  }
}
