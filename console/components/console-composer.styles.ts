/** Styles of the reply composer. */
import { css } from 'lit';

/** Composer: an auto-growing textarea with a send button. */
export const composerStyles = css`
  :host {
    display: block;
    padding: 12px 20px 16px;
    background: var(--console-bg);
  }
  form {
    display: flex;
    align-items: flex-end;
    gap: 8px;
    padding: 8px 8px 8px 14px;
    background: var(--console-surface);
    border: 1px solid #d3d9e1;
    border-radius: 14px;
    box-shadow: var(--console-shadow);
  }
  /* The box, not the borderless textarea inside it, shows where focus is. */
  form:has(textarea:focus-visible) {
    border-color: var(--console-accent);
    outline: 2px solid var(--console-accent);
    outline-offset: 2px;
  }
  textarea {
    flex: 1;
    /* A flex item is as wide as its content by default: a long word must wrap, not widen the pane. */
    min-width: 0;
    overflow-wrap: anywhere;
    min-height: 24px;
    max-height: 160px;
    field-sizing: content;
    padding: 7px 0;
    border: 0;
    resize: none;
    font: inherit;
    font-size: 14.5px;
    line-height: 1.4;
    color: inherit;
    background: transparent;
  }
  textarea:focus-visible {
    outline: none;
  }
  .send {
    width: 38px;
    height: 38px;
    padding: 0;
    border-radius: 10px;
  }
  .meta {
    display: flex;
    justify-content: space-between;
    gap: 8px;
    margin-top: 6px;
    padding: 0 4px;
    font-size: 12px;
    color: var(--console-faint);
  }
  .meta .over {
    color: var(--console-danger);
    font-weight: 600;
  }
  .caption-over {
    margin: 0 4px 6px;
    font-size: 12px;
    font-weight: 600;
    color: var(--console-danger);
  }
  .saved-replies {
    list-style: none;
    margin: 0 0 6px;
    padding: 4px;
    max-height: 14rem;
    overflow-y: auto;
    border: 1px solid var(--border, #ccc);
    border-radius: 8px;
    background: var(--surface, #fff);
  }
  .saved-replies li {
    padding: 6px 8px;
    border-radius: 6px;
    cursor: pointer;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .saved-replies li[aria-selected='true'] {
    background: var(--anon-chat-accent, #2563eb);
    color: #fff;
  }
`;
