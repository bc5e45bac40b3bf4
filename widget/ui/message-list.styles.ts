/** Styles of message bubbles and status ticks; the widget and the console adopt them into their shadow roots. */
import { css } from 'lit';
import { avatarHueStyles } from './initials.ts';

/**
 * Bubble and tick CSS. Colours come from custom properties with fallbacks so each host (widget, console)
 * themes them: --anon-chat-accent, --anon-chat-accent-text, --anon-chat-bubble-other,
 * --anon-chat-bubble-other-text, --anon-chat-muted, --anon-chat-danger, --anon-chat-radius.
 */
export const bubbleStyles = css`
  ${avatarHueStyles}
  .msg {
    display: flex;
    flex-direction: column;
    align-items: flex-start;
    max-width: 100%;
    margin: 2px 0;
  }
  .msg--own {
    align-items: flex-end;
  }
  .msg__author {
    display: block;
    font-size: 0.75em;
    /* --_muted: the widget's scheme-aware palette; hosts without one (the console) use --anon-chat-muted. */
    color: var(--_muted, var(--anon-chat-muted, #5f6368));
    margin: 6px 10px 2px;
  }
  .msg__avatar {
    display: inline-grid;
    place-items: center;
    inline-size: 1.9em;
    block-size: 1.9em;
    margin-inline-end: 6px;
    vertical-align: middle;
    border-radius: 50%;
    /* Dark enough for white initials (WCAG AA) at any hue. */
    background: hsl(var(--avatar-hue, 220) 45% 36%);
    color: #ffffff;
    font-weight: 600;
    font-size: 0.9em;
  }
  .msg__bubble {
    display: block;
    box-sizing: border-box;
    max-width: 85%;
    padding: 6px 10px;
    border-radius: var(--anon-chat-radius, 14px);
    background: var(--anon-chat-bubble-other, #eef0f3);
    color: var(--anon-chat-bubble-other-text, #1f2328);
    overflow-wrap: anywhere;
    line-height: 1.35;
  }
  .msg--own .msg__bubble {
    /* --_accent and --_accent-text: the widget's palette (the text derived from the accent); else the public names. */
    background: var(--_accent, var(--anon-chat-accent, #1a56db));
    color: var(--_accent-text, var(--anon-chat-accent-text, #ffffff));
  }
  .msg--failed .msg__bubble {
    opacity: 0.75;
  }
  .msg__text {
    white-space: pre-wrap;
  }
  .msg__meta {
    display: inline-flex;
    align-items: center;
    gap: 3px;
    float: inline-end;
    margin-block: 4px -2px;
    margin-inline: 8px 0;
    font-size: 0.7em;
    white-space: nowrap;
  }
  .msg--other .msg__meta {
    opacity: 0.8;
  }
  .ticks {
    display: inline-flex;
    align-items: center;
    font-weight: 600;
    letter-spacing: -0.25em;
    padding-right: 0.25em;
  }
  .ticks--read {
    /* Read differs from delivered by shape, not only colour (WCAG 1.4.1): the ticks sit in a filled pill, drawn in
       the bubble's own two colours so it keeps their contrast on any accent. */
    padding: 0 0.4em 0 0.2em;
    border-radius: 999px;
    background: currentColor;
  }
  .ticks--read > span {
    color: var(--_accent, var(--anon-chat-accent, #1a56db));
  }
  .ticks--failed {
    color: var(--anon-chat-danger, #d93025);
    letter-spacing: 0;
  }
  .msg__failure {
    display: flex;
    align-items: center;
    flex-wrap: wrap;
    gap: 6px;
    margin: 2px 4px;
    font-size: 0.75em;
    color: var(--anon-chat-danger, #d93025);
  }
  .msg__retry {
    font: inherit;
    cursor: pointer;
    color: inherit;
    background: none;
    border: 1px solid currentColor;
    border-radius: 999px;
    padding: 1px 8px;
  }
`;
