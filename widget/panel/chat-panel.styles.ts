/** Styles of the chat panel; adopted into the shadow root when the panel first renders. */
import { css } from 'lit';

/** Panel, header, message list, composer. Uses the palette variables set on :host by anon-chat.styles.ts. */
export const panelStyles = css`
  .panel {
    position: fixed;
    top: auto;
    left: auto;
    bottom: calc(var(--anon-chat-offset, 20px) + 68px);
    right: var(--anon-chat-offset, 20px);
    z-index: var(--anon-chat-z-index, 2147483000);
    display: flex;
    flex-direction: column;
    width: var(--anon-chat-width, 370px);
    max-width: calc(100vw - 24px);
    height: var(--anon-chat-height, 560px);
    max-height: calc(100vh - 120px);
    box-sizing: border-box;
    margin: 0;
    padding: 0;
    background: var(--_bg);
    color: var(--_text);
    border: 1px solid var(--_border);
    border-radius: var(--anon-chat-panel-radius, 16px);
    box-shadow: 0 12px 40px rgb(0 0 0 / 0.25);
    overflow: hidden;
  }
  .panel:not([open]) {
    display: none;
  }
  .panel::backdrop {
    background: transparent;
  }
  @media (max-width: 480px) {
    /* Full screen, and as tall as what is visible above the on-screen keyboard (the element tracks visualViewport;
       dvh where it has not measured yet). */
    .root .panel {
      inset: var(--_viewport-top, 0) 0 auto 0;
      width: 100%;
      max-width: none;
      height: var(--_viewport-height, 100dvh);
      max-height: none;
      border: 0;
      border-radius: 0;
    }
  }
  .header {
    display: flex;
    align-items: center;
    gap: 8px;
    padding: 12px 14px;
    background: var(--_accent);
    color: var(--_accent-text);
  }
  .header-text {
    flex: 1;
    min-width: 0;
  }
  .title {
    margin: 0;
    font-size: 16px;
    font-weight: 650;
  }
  .availability {
    display: flex;
    align-items: center;
    gap: 6px;
    margin: 2px 0 0;
    font-size: 12px;
  }
  .dot {
    width: 8px;
    height: 8px;
    border-radius: 50%;
    background: #bdc1c6;
  }
  .dot--online {
    background: #5ee07a;
  }
  .icon-button {
    display: flex;
    align-items: center;
    justify-content: center;
    width: 32px;
    height: 32px;
    border: none;
    border-radius: 50%;
    background: transparent;
    color: inherit;
    cursor: pointer;
    padding: 0;
  }
  .icon-button:hover {
    background: rgb(255 255 255 / 0.15);
  }
  .header :focus-visible {
    /* On the accent the accent ring would vanish: the header's text colour is derived to contrast with it. */
    outline-color: var(--_accent-text);
  }
  .list {
    flex: 1;
    overflow-y: auto;
    overscroll-behavior: contain;
    padding: 10px 10px 4px;
    background: var(--_bg);
  }
  .list:focus-visible {
    /* Inside the list's own box: the panel clips anything outside it. */
    outline-offset: -2px;
  }
  .list > .msg {
    /* Thousands of messages stay smooth: the browser skips layout and paint of off-screen rows. */
    content-visibility: auto;
    contain-intrinsic-size: auto 48px;
  }
  .greeting {
    margin: 4px 0 10px;
    padding: 8px 10px;
    border-radius: 10px;
    background: var(--_surface);
    color: var(--_text);
    font-size: 14px;
  }
  .separator {
    display: flex;
    justify-content: center;
    margin: 10px 0 6px;
    font-size: 12px;
    color: var(--_muted);
  }
  .hint,
  .typing {
    margin: 4px 2px;
    font-size: 12px;
    color: var(--_muted);
  }
  .hint {
    text-align: center;
  }
  .pill {
    position: absolute;
    left: 50%;
    bottom: 76px;
    transform: translateX(-50%);
    border: none;
    border-radius: 999px;
    padding: 6px 14px;
    background: var(--_accent);
    color: var(--_accent-text);
    font-size: 13px;
    box-shadow: 0 2px 8px rgb(0 0 0 / 0.25);
    cursor: pointer;
  }
  .composer {
    display: flex;
    align-items: flex-end;
    gap: 6px;
    padding: 8px 10px;
    border-top: 1px solid var(--_border);
    background: var(--_bg);
  }
  .field {
    position: relative;
    flex: 1;
    /* A flex item is as wide as its content by default; a long word must wrap, not widen the panel. */
    min-width: 0;
    display: flex;
    flex-direction: column;
  }
  .input {
    box-sizing: border-box;
    width: 100%;
    min-height: 40px;
    max-height: 120px;
    resize: none;
    padding: 9px 10px;
    border: 1px solid var(--_border);
    border-radius: 10px;
    background: var(--_surface);
    line-height: 1.35;
    field-sizing: content;
    overflow-wrap: anywhere;
  }
  .input::placeholder {
    /* The browser's default placeholder grey falls under WCAG AA contrast on the field background. */
    color: var(--_muted);
    opacity: 1;
  }
  .counter {
    align-self: flex-end;
    font-size: 11px;
    color: var(--_muted);
  }
  .counter--near {
    color: var(--anon-chat-danger, #c5221f);
  }
  .send {
    width: 40px;
    height: 40px;
    border: none;
    border-radius: 50%;
    background: var(--_accent);
    color: var(--_accent-text);
    cursor: pointer;
    flex: none;
    display: flex;
    align-items: center;
    justify-content: center;
    padding: 0;
  }
  .send:disabled {
    opacity: 0.5;
    cursor: default;
  }
  /* A strip above the composer: the erase confirmation, and the reply-by-email offer (its module adds only its layout). */
  .strip {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 8px;
    padding: 8px 10px;
    font-size: 13px;
    background: var(--_surface);
    border-bottom: 1px solid var(--_border);
  }
  .strip p {
    flex: 1 1 100%;
    margin: 0;
  }
  .strip button {
    min-height: 32px;
    padding: 4px 12px;
    border: 1px solid var(--_border);
    border-radius: 6px;
    background: transparent;
    color: inherit;
    font: inherit;
    cursor: pointer;
  }
  .erase .erase-yes {
    border-color: var(--anon-chat-danger, #c5221f);
    background: var(--anon-chat-danger, #c5221f);
    color: #fff;
  }
  @media (max-width: 480px), (pointer: coarse) {
    /* Touch: every target at least 44 × 44 CSS px (WCAG 2.5.5). */
    .icon-button,
    .send {
      width: 44px;
      height: 44px;
    }
    .input {
      min-height: 44px;
      padding-block: 11px;
    }
    .pill,
    .msg__retry,
    .strip button {
      min-height: 44px;
      min-width: 44px;
    }
  }
  .connection {
    padding: 4px 10px;
    font-size: 12px;
    background: var(--_surface);
    color: var(--_muted);
    border-top: 1px solid var(--_border);
  }
`;
