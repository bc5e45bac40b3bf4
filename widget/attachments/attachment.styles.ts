/**
 * Styles of attachments, the draft and the viewer. Colours use the widget's palette variables (--_…) with the
 * public --anon-chat-… properties and fixed values as fallbacks, so the console (which has no --_ palette) themes
 * them too. Classes only: under a strict CSP no style attribute is allowed.
 */
import { css } from '@lit/reactive-element/css-tag.js';

export const attachmentStyles = css`
  .msg__link {
    color: inherit;
    text-decoration: underline;
    overflow-wrap: anywhere;
  }
  .att-images {
    display: flex;
    flex-wrap: wrap;
    gap: 4px;
    margin: 2px 0 4px;
  }
  .att-image {
    display: block;
    padding: 0;
    border: none;
    border-radius: 8px;
    overflow: hidden;
    background: var(--_surface, var(--anon-chat-surface, #f6f8fa));
    cursor: zoom-in;
    max-width: 100%;
  }
  .att-image--loading {
    width: 160px;
    height: 120px;
    cursor: default;
  }
  /* The thumbnail fits 320 × 320 on the bridge; shown at most half that, keeping its proportions. */
  .att-image__img {
    display: block;
    max-width: 200px;
    max-height: 200px;
    min-width: 48px;
    min-height: 48px;
    width: auto;
    height: auto;
  }
  .att-files {
    display: flex;
    flex-direction: column;
    gap: 4px;
    margin: 2px 0 4px;
  }
  .att-file {
    display: flex;
    align-items: center;
    gap: 8px;
    min-height: 44px;
    padding: 6px 10px;
    border: 1px solid currentColor;
    border-radius: 8px;
    color: inherit;
    text-decoration: none;
    max-width: 260px;
  }
  .att-file--loading {
    opacity: 0.7;
  }
  .att-file__icon {
    flex: none;
  }
  .att-file__text,
  .att-draft__file {
    display: flex;
    flex-direction: column;
    min-width: 0;
  }
  .att-file__name {
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
    font-weight: 600;
  }
  .att-file__meta {
    font-size: 0.8em;
    opacity: 0.85;
  }
  /* The composer wraps so the draft sits on its own row above the field. */
  .composer {
    flex-wrap: wrap;
  }
  .att-draft {
    flex: 1 0 100%;
    order: -1;
    min-width: 0;
  }
  .att-draft__items {
    display: flex;
    gap: 6px;
    margin: 0 0 6px;
    padding: 0;
    list-style: none;
    overflow-x: auto;
  }
  .att-draft__item {
    position: relative;
    flex: none;
    display: flex;
    flex-direction: column;
    justify-content: flex-end;
    width: 72px;
    height: 72px;
    border: 1px solid var(--_border, var(--anon-chat-border, #d0d7de));
    border-radius: 8px;
    overflow: hidden;
    background: var(--_surface, var(--anon-chat-surface, #f6f8fa));
    color: var(--_text, var(--anon-chat-text, #1f2328));
    font-size: 11px;
  }
  .att-draft__item:has(.att-draft__file) {
    width: 140px;
  }
  .att-draft__item--failed {
    border-color: var(--anon-chat-danger, #d93025);
  }
  .att-draft__thumb {
    position: absolute;
    inset: 0;
    width: 100%;
    height: 100%;
    object-fit: cover;
  }
  .att-draft__file {
    padding: 6px 24px 4px 6px;
    margin-bottom: auto;
  }
  .att-draft__progress {
    position: relative;
    display: block;
    width: 100%;
    height: 6px;
    margin: 0;
    accent-color: var(--_accent, var(--anon-chat-accent, #1a56db));
  }
  .att-draft__waiting {
    position: relative;
    padding: 2px 4px;
    background: rgb(0 0 0 / 0.65);
    color: #ffffff;
    line-height: 1.2;
  }
  .att-draft__error {
    position: relative;
    padding: 2px 4px;
    background: var(--anon-chat-danger, #d93025);
    color: #ffffff;
    line-height: 1.2;
  }
  .att-draft__cancel {
    position: absolute;
    top: 2px;
    right: 2px;
    display: grid;
    place-items: center;
    width: 24px;
    height: 24px;
    padding: 0;
    border: none;
    border-radius: 50%;
    background: rgb(0 0 0 / 0.65);
    color: #ffffff;
    cursor: pointer;
  }
  .att-draft__notice {
    margin: 0 0 6px;
    color: var(--anon-chat-danger, #d93025);
    font-size: 12px;
  }
  .att-attach {
    width: 40px;
    height: 40px;
    flex: none;
    display: grid;
    place-items: center;
    padding: 0;
    border: none;
    border-radius: 50%;
    background: transparent;
    color: var(--_muted, var(--anon-chat-muted, #5f6368));
    cursor: pointer;
  }
  .att-attach:hover {
    color: var(--_text, var(--anon-chat-text, #1f2328));
  }
  .att-dropping {
    outline: 2px dashed var(--_accent, var(--anon-chat-accent, #1a56db));
    outline-offset: -4px;
  }
  .att-viewer {
    max-width: min(96vw, 1200px);
    max-height: 96vh;
    padding: 0;
    border: none;
    border-radius: 10px;
    background: #111111;
    color: #ffffff;
  }
  .att-viewer::backdrop {
    background: rgb(0 0 0 / 0.7);
  }
  .att-viewer__bar {
    display: flex;
    align-items: center;
    gap: 8px;
    padding: 6px 8px 6px 12px;
    font-size: 14px;
  }
  .att-viewer__name {
    flex: 1;
    min-width: 0;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .att-viewer__action {
    display: inline-grid;
    place-items: center;
    min-width: 44px;
    min-height: 44px;
    padding: 0 8px;
    border: none;
    border-radius: 6px;
    background: transparent;
    color: #ffffff;
    font: inherit;
    cursor: pointer;
  }
  .att-viewer__img {
    display: block;
    max-width: min(96vw, 1200px);
    max-height: calc(96vh - 56px);
    margin: 0 auto;
  }
  @media (max-width: 480px) {
    .att-attach {
      width: 44px;
      height: 44px;
    }
  }
`;
