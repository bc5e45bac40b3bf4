/**
 * Layout of the reply-by-email offer inside the panel's `.strip` (chat-panel.styles.ts draws the strip and its
 * buttons, as for the erase confirmation). Classes only: under a strict CSP no style attribute is allowed.
 */
import { css } from '@lit/reactive-element/css-tag.js';

export const replyByEmailStyles = css`
  .email {
    border-top: 1px solid var(--_border);
  }
  .email label,
  .email-row {
    flex: 1 1 100%;
    margin: 0;
  }
  .email-row {
    display: flex;
    gap: 8px;
  }
`;
