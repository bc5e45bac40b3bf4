/**
 * Styles of the reply-by-email offer: a strip above the composer, drawn like the panel's erase confirmation, with
 * the widget's palette variables. Classes only: under a strict CSP no style attribute is allowed.
 */
import { css } from '@lit/reactive-element/css-tag.js';

export const replyByEmailStyles = css`
  .email {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 8px;
    padding: 8px 10px;
    font-size: 13px;
    background: var(--_surface);
    border-block: 1px solid var(--_border);
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
  .email button {
    min-height: 32px;
    padding: 4px 12px;
    border: 1px solid var(--_border);
    border-radius: 6px;
    background: transparent;
    color: inherit;
    font: inherit;
    cursor: pointer;
  }
  @media (max-width: 480px), (pointer: coarse) {
    /* Touch: every target at least 44 × 44 CSS px (WCAG 2.5.5). */
    .email button {
      min-height: 44px;
      min-width: 44px;
    }
  }
`;
