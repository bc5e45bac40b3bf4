/** Styles of the inbox column. */
import { css } from 'lit';

/** Inbox: header with filter and search, then the conversation list. */
export const inboxStyles = css`
  :host {
    display: flex;
    flex-direction: column;
    min-height: 0;
    background: var(--console-surface);
  }
  header {
    padding: 16px 16px 12px;
    border-bottom: 1px solid var(--console-border);
  }
  .title-row {
    display: flex;
    align-items: center;
    justify-content: space-between;
    gap: 8px;
    margin-bottom: 12px;
  }
  h2 {
    margin: 0;
    font-size: 18px;
    font-weight: 700;
    letter-spacing: -0.01em;
  }
  .segmented {
    display: inline-flex;
    padding: 2px;
    border-radius: 8px;
    background: var(--console-bg);
    border: 1px solid var(--console-border);
  }
  .segmented button {
    height: 26px;
    padding: 0 12px;
    border: 0;
    border-radius: 6px;
    background: transparent;
    color: var(--console-muted);
    font-size: 13px;
    font-weight: 600;
  }
  .segmented button[aria-pressed='true'] {
    background: var(--console-surface);
    color: var(--console-text);
    box-shadow: var(--console-shadow);
  }
  .search {
    position: relative;
  }
  .search svg {
    position: absolute;
    inset-inline-start: 10px;
    top: 50%;
    transform: translateY(-50%);
    color: var(--console-faint);
    pointer-events: none;
  }
  .search input {
    width: 100%;
    height: 36px;
    padding: 0 10px 0 32px;
    font: inherit;
    font-size: 14px;
    color: inherit;
    border: 1px solid var(--console-border);
    border-radius: 8px;
    background: var(--console-bg);
  }
  .search input:focus-visible {
    border-color: var(--console-accent);
    background: var(--console-surface);
  }
  ul {
    flex: 1;
    min-height: 0;
    overflow-y: auto;
    margin: 0;
    padding: 6px;
    list-style: none;
  }
  li + li {
    margin-top: 2px;
  }
  .item {
    display: flex;
    gap: 12px;
    width: 100%;
    padding: 10px;
    border: 0;
    border-radius: var(--console-radius);
    background: transparent;
    text-align: start;
    color: inherit;
  }
  .item:hover {
    background: #f3f5f8;
  }
  .item[aria-current='true'] {
    background: var(--console-accent-soft);
  }
  .item__body {
    flex: 1;
    min-width: 0;
  }
  .item__top,
  .item__bottom {
    display: flex;
    align-items: center;
    gap: 6px;
    min-width: 0;
  }
  .item__bottom {
    margin-top: 3px;
  }
  .item__name {
    flex: 1;
    min-width: 0;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
    font-size: 14px;
    font-weight: 600;
  }
  .item__time {
    flex: none;
    font-size: 12px;
    color: var(--console-faint);
  }
  .item--unread .item__time {
    color: var(--console-accent);
    font-weight: 600;
  }
  .item__preview {
    flex: 1;
    min-width: 0;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
    font-size: 13px;
    color: var(--console-muted);
  }
  .item--unread .item__preview {
    color: var(--console-text);
    font-weight: 500;
  }
  .item__preview--failed {
    color: var(--console-danger);
  }
  .item__preview--typing {
    color: var(--console-accent);
    font-style: italic;
  }
  .unread {
    flex: none;
    min-width: 20px;
    height: 20px;
    padding: 0 6px;
    border-radius: 10px;
    background: var(--console-accent);
    color: #fff;
    font-size: 11px;
    font-weight: 700;
    line-height: 20px;
    text-align: center;
  }
  .state {
    padding: 32px 20px;
    text-align: center;
    color: var(--console-muted);
    font-size: 14px;
  }
  .state strong {
    display: block;
    margin-bottom: 4px;
    color: var(--console-text);
  }
  .error {
    margin: 8px 12px 0;
    color: var(--console-danger);
    font-size: 13px;
  }
  .segmented--assignee {
    margin-top: 8px;
  }
  .item__assignee {
    flex: none;
    max-width: 40%;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
    font-size: 0.75rem;
    color: var(--muted, #555);
  }
`;
