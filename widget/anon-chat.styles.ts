/**
 * Styles of `<anon-chat>`: all in the shadow root as constructable stylesheets (no inline style attributes, so a
 * strict CSP needs no `unsafe-inline`). Colours are custom properties; dark mode follows `prefers-color-scheme`
 * unless the `theme` attribute forces `light` or `dark`.
 */
import { css } from 'lit';

/** Light palette (default) and dark palette; all meet WCAG AA contrast for text. */
const light = css`
  --_bg: var(--anon-chat-bg, #ffffff);
  --_text: var(--anon-chat-text, #1f2328);
  --_muted: var(--anon-chat-muted, #5f6368);
  --_border: var(--anon-chat-border, #d0d7de);
  --_accent: var(--anon-chat-accent, #1a56db);
  --_accent-text: var(--anon-chat-accent-text, #ffffff);
  --_ring: var(--_accent);
  --_surface: var(--anon-chat-surface, #f6f8fa);
  --anon-chat-bubble-other: var(--anon-chat-bubble-bg, #eef0f3);
  --anon-chat-bubble-other-text: var(--anon-chat-bubble-text, #1f2328);
`;

const dark = css`
  --_bg: var(--anon-chat-bg, #1e1f22);
  --_text: var(--anon-chat-text, #e8eaed);
  --_muted: var(--anon-chat-muted, #a8adb3);
  --_border: var(--anon-chat-border, #3c4043);
  --_accent: var(--anon-chat-accent, #3b6fe0);
  --_ring: #8ab4f8;
  --_surface: var(--anon-chat-surface, #26282c);
  --anon-chat-bubble-other: var(--anon-chat-bubble-bg, #303236);
  --anon-chat-bubble-other-text: var(--anon-chat-bubble-text, #e8eaed);
  --anon-chat-danger: #ff8a80;
`;

/**
 * Colours drawn from the accent, so that whatever accent a site picks keeps WCAG AA: the text, ticks and rings on
 * the accent are black or white, whichever contrasts more (CIE L* 49.4 is where both reach the same ratio, 4.58:1);
 * focus rings on the panel are the accent pulled to a lightness that keeps 3:1 against the theme's background.
 * Browsers without relative colours keep the palette's fixed values.
 */
const derived = css`
  @supports (color: lab(from red l a b)) {
    :host {
      --_accent-text: var(--anon-chat-accent-text, lab(from var(--_accent) calc((49.4 - l) * infinity) 0 0));
      --_ring: lab(from var(--_accent) min(l, 42) a b);
    }
    @media (prefers-color-scheme: dark) {
      :host(:not([theme='light'])) {
        --_ring: lab(from var(--_accent) max(l, 68) a b);
      }
    }
    :host([theme='dark']) {
      --_ring: lab(from var(--_accent) max(l, 68) a b);
    }
  }
`;

/** The element's own styles (the bubble styles are adopted next to these). */
export const anonChatStyles = css`
  :host {
    ${light}
    /* !important: host-page rules such as "* { all: unset }" must not hide or move the widget. */
    display: block !important;
    position: static !important;
  }
  :host([hidden]) {
    display: none !important;
  }
  @media (prefers-color-scheme: dark) {
    :host(:not([theme='light'])) {
      ${dark}
    }
  }
  :host([theme='dark']) {
    ${dark}
  }
  ${derived}
  [hidden] {
    display: none !important;
  }
  .root {
    all: initial;
    font-family: var(--anon-chat-font, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif);
    font-size: 15px;
    line-height: 1.4;
    color: var(--_text);
  }
  button,
  textarea {
    font: inherit;
    color: inherit;
  }
  :focus-visible {
    outline: 2px solid var(--_ring);
    outline-offset: 2px;
  }
  .launcher {
    position: fixed;
    bottom: var(--anon-chat-offset, 20px);
    right: var(--anon-chat-offset, 20px);
    z-index: var(--anon-chat-z-index, 2147483000);
    display: flex;
    align-items: center;
    justify-content: center;
    width: 56px;
    height: 56px;
    border: none;
    border-radius: 50%;
    background: var(--_accent);
    color: var(--_accent-text);
    box-shadow: 0 4px 14px rgb(0 0 0 / 0.25);
    cursor: pointer;
    padding: 0;
  }
  .launcher:focus-visible {
    /* The launcher's ring sits on the host page, whose colours the widget cannot know: a band in the accent's text
       colour right around the button, then the accent, so one of the two stands out on any page. */
    outline-color: var(--_accent);
    box-shadow: 0 0 0 2px var(--_accent-text), 0 4px 14px rgb(0 0 0 / 0.25);
  }
  .left .launcher,
  .left .panel {
    right: auto;
    left: var(--anon-chat-offset, 20px);
  }
  .badge {
    position: absolute;
    top: -4px;
    inset-inline-end: -4px;
    min-width: 20px;
    height: 20px;
    padding: 0 5px;
    box-sizing: border-box;
    border-radius: 10px;
    background: var(--anon-chat-badge, #c5221f);
    color: #ffffff;
    font-size: 12px;
    font-weight: 700;
    line-height: 20px;
    text-align: center;
  }
  .sr-only {
    position: absolute;
    width: 1px;
    height: 1px;
    margin: -1px;
    padding: 0;
    overflow: hidden;
    clip-path: inset(50%);
    white-space: nowrap;
    border: 0;
  }
`;
