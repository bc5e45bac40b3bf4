/** Styles of the conversation view. */
import { css } from 'lit';

/** Conversation view: header, scrolling message log, typing line, composer. */
export const threadStyles = css`
  /* No --anon-chat-accent here: --console-accent is defined from it, and the cycle would void both (and the focus
     ring drawn with them); the bubbles read the page's --anon-chat-accent themselves. */
  :host {
    display: flex;
    flex-direction: column;
    min-width: 0;
    min-height: 0;
    background: var(--console-bg);
    --anon-chat-bubble-other: var(--console-surface);
    --anon-chat-bubble-other-text: var(--console-text);
    --anon-chat-muted: var(--console-muted);
    --anon-chat-danger: var(--console-danger);
    --anon-chat-radius: 16px;
  }
  .head {
    display: flex;
    align-items: center;
    gap: 12px;
    min-height: 64px;
    padding: 10px 20px;
    background: var(--console-surface);
    border-bottom: 1px solid var(--console-border);
  }
  .back {
    display: none;
    width: 36px;
    height: 36px;
    margin-left: -8px;
    border: 0;
    border-radius: 8px;
    background: transparent;
    color: var(--console-muted);
  }
  .back:hover {
    background: var(--console-bg);
  }
  :host([narrow]) .back {
    display: inline-grid;
    place-items: center;
  }
  .head__text {
    min-width: 0;
    flex: 1;
  }
  .state-btn {
    flex: none;
    height: 32px;
    padding: 0 12px;
  }
  .state-btn[aria-disabled='true'] {
    opacity: 0.55;
    cursor: default;
  }
  .head__name {
    display: flex;
    align-items: center;
    gap: 8px;
    margin: 0;
    font-size: 16px;
    font-weight: 700;
  }
  .head__name span {
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .head__presence {
    display: flex;
    align-items: center;
    gap: 6px;
    margin-top: 2px;
    font-size: 13px;
    color: var(--console-muted);
  }
  .head__email {
    margin-top: 2px;
    font-size: 13px;
    color: var(--console-muted);
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .ext-id {
    font-variant-numeric: tabular-nums;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .presence-dot {
    width: 8px;
    height: 8px;
    border-radius: 50%;
    background: #b3bac5;
  }
  .presence-dot--online {
    background: #22a06b;
  }
  .messages {
    flex: 1;
    min-height: 0;
    overflow-y: auto;
    padding: 16px 24px 8px;
    font-size: 14.5px;
    overscroll-behavior: contain;
  }
  .messages:focus-visible {
    outline-offset: -3px;
  }
  .msg__bubble {
    max-width: min(72%, 640px);
    padding: 8px 12px;
    box-shadow: 0 1px 1px rgb(16 24 40 / 6%);
  }
  .msg--other .msg__bubble {
    border: 1px solid var(--console-border);
  }
  .msg__author {
    font-weight: 600;
  }
  /* A reply that did not reach the customer must stand out from the blue ones around it. */
  .msg--own.msg--failed .msg__bubble {
    opacity: 1;
    background: #fdecea;
    color: var(--console-text);
    border: 1px solid #f3b8b2;
  }
  .msg--own.msg--failed .ticks--failed {
    color: var(--console-danger);
  }
  .day {
    display: flex;
    justify-content: center;
    margin: 14px 0 8px;
  }
  .day span {
    padding: 3px 10px;
    border-radius: 999px;
    background: #e7eaef;
    color: var(--console-muted);
    font-size: 12px;
    font-weight: 600;
  }
  .edge {
    margin: 4px 0 12px;
    text-align: center;
    font-size: 12px;
    color: var(--console-faint);
  }
  .typing {
    display: flex;
    align-items: center;
    gap: 8px;
    min-height: 24px;
    padding: 0 24px 4px;
    font-size: 13px;
    color: var(--console-muted);
  }
  .dots {
    display: inline-flex;
    gap: 3px;
  }
  .dots i {
    width: 5px;
    height: 5px;
    border-radius: 50%;
    background: currentColor;
    animation: blink 1.2s infinite ease-in-out;
  }
  .dots i:nth-child(2) {
    animation-delay: 0.15s;
  }
  .dots i:nth-child(3) {
    animation-delay: 0.3s;
  }
  @keyframes blink {
    0%,
    80%,
    100% {
      opacity: 0.25;
    }
    40% {
      opacity: 1;
    }
  }
  @media (prefers-reduced-motion: reduce) {
    .dots i {
      animation: none;
    }
  }
  .error {
    margin: 0 24px 8px;
    padding: 8px 12px;
    border-radius: 8px;
    background: #fdecea;
    color: var(--console-danger);
    font-size: 13px;
  }
  .empty {
    flex: 1;
    display: grid;
    place-items: center;
    align-content: center;
    gap: 8px;
    padding: 24px;
    text-align: center;
    color: var(--console-muted);
  }
  .empty svg {
    color: #c5ccd6;
  }
  .empty strong {
    color: var(--console-text);
    font-size: 16px;
  }
  .assignee {
    flex: 0 1 auto;
    min-width: 0;
  }
  .assignee__select {
    width: 100%;
    min-width: 4.5rem;
    max-width: 11rem;
    min-height: 36px;
    font: inherit;
    font-size: 0.875rem;
    border-radius: 8px;
    border: 1px solid var(--border, #ccc);
    background: transparent;
    color: inherit;
    padding: 0 6px;
  }
`;
