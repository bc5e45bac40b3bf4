/** Design tokens and base rules every console element adopts (colours, type, focus ring, buttons). */
import { css } from 'lit';
import { avatarHueStyles } from '../../widget/ui/initials.ts';

/** Base styles for console shadow roots. */
export const baseStyles = css`
  ${avatarHueStyles}
  :host {
    --console-accent: var(--anon-chat-accent, #1a56db);
    --console-accent-hover: #1746b8;
    --console-accent-soft: #e8effd;
    --console-bg: #f5f6f8;
    --console-surface: #ffffff;
    --console-border: #e3e6eb;
    --console-text: #111827;
    --console-muted: #5b6472;
    --console-faint: #636c7c;
    --console-danger: #c2271d;
    --console-success: #0f7352;
    --console-radius: 10px;
    --console-shadow: 0 1px 2px rgb(16 24 40 / 6%), 0 1px 3px rgb(16 24 40 / 10%);
    font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
    color: var(--console-text);
    box-sizing: border-box;
  }
  *,
  *::before,
  *::after {
    box-sizing: inherit;
  }
  :focus-visible {
    outline: 2px solid var(--console-accent);
    outline-offset: 2px;
  }
  button {
    font: inherit;
    cursor: pointer;
  }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    margin: -1px;
    padding: 0;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
    border: 0;
  }
  .btn {
    display: inline-flex;
    align-items: center;
    justify-content: center;
    gap: 6px;
    height: 36px;
    padding: 0 14px;
    border-radius: 8px;
    border: 1px solid transparent;
    font-size: 14px;
    font-weight: 600;
    line-height: 1;
  }
  .btn--primary {
    background: var(--console-accent);
    color: #fff;
  }
  .btn--primary:hover:not(:disabled) {
    background: var(--console-accent-hover);
  }
  .btn--primary:disabled {
    opacity: 0.55;
    cursor: default;
  }
  .btn--ghost {
    background: transparent;
    color: var(--console-muted);
    border-color: var(--console-border);
  }
  .btn--ghost:hover {
    background: var(--console-bg);
    color: var(--console-text);
  }
  .avatar {
    position: relative;
    flex: none;
    display: inline-flex;
    align-items: center;
    justify-content: center;
    line-height: 1;
    width: 40px;
    height: 40px;
    border-radius: 50%;
    font-size: 14px;
    font-weight: 650;
    color: hsl(var(--avatar-hue, 220) 45% 28%);
    background: hsl(var(--avatar-hue, 220) 70% 90%);
  }
  .avatar__dot {
    position: absolute;
    right: -1px;
    bottom: -1px;
    width: 12px;
    height: 12px;
    border-radius: 50%;
    background: #22a06b;
    border: 2px solid var(--console-surface);
  }
  .badge {
    display: inline-flex;
    align-items: center;
    height: 18px;
    padding: 0 6px;
    border-radius: 4px;
    font-size: 11px;
    font-weight: 600;
    letter-spacing: 0.02em;
    white-space: nowrap;
  }
  .badge--web {
    color: #1d4ed8;
    background: #e6eeff;
  }
  .badge--whatsapp {
    color: #0c6b3f;
    background: #dcf5e7;
  }
  .badge--xmtp {
    color: #6d28d9;
    background: #efe7ff;
  }
`;
