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
  form:focus-within {
    border-color: var(--console-accent);
    box-shadow: 0 0 0 3px rgb(26 86 219 / 14%);
  }
  textarea {
    flex: 1;
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
`;
