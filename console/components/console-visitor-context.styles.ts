/** Styles of the visitor-context panel. */
import { css } from 'lit';

/** A side column on wide screens; a collapsible section above the conversation on narrow ones. */
export const visitorContextStyles = css`
  :host {
    display: block;
    min-width: 0;
    background: var(--console-surface);
    font-size: 13px;
  }
  section,
  details {
    padding: 14px 16px;
  }
  h2 {
    margin: 0 0 10px;
    font-size: 13px;
    font-weight: 700;
    letter-spacing: 0.02em;
    text-transform: uppercase;
    color: var(--console-muted);
  }
  summary {
    display: flex;
    align-items: center;
    gap: 8px;
    min-height: 44px;
    cursor: pointer;
  }
  summary h2 {
    display: inline;
    margin: 0;
  }
  .summary__page {
    min-width: 0;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
    color: var(--console-text);
  }
  details[open] summary {
    margin-bottom: 8px;
  }
  dl {
    display: grid;
    grid-template-columns: minmax(0, 1fr);
    gap: 2px;
    margin: 0;
  }
  dt {
    margin-top: 8px;
    font-size: 12px;
    color: var(--console-muted);
  }
  dd {
    margin: 0;
    overflow-wrap: anywhere;
  }
  a {
    color: var(--console-accent);
  }
  .empty {
    margin: 0;
    color: var(--console-muted);
  }
`;
