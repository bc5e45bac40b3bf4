/** Styles of the console shell: top bar and the two panes. */
import { css } from 'lit';

/** Shell layout; the panes collapse to one below 720 px. */
export const consoleStyles = css`
  :host {
    display: block;
    height: 100%;
    background: var(--console-bg);
  }
  .app {
    display: grid;
    grid-template-rows: auto 1fr;
    /* minmax(0, …): a wide child (a long word) must not widen the app past the screen. */
    grid-template-columns: minmax(0, 1fr);
    height: 100%;
  }
  .topbar {
    display: flex;
    align-items: center;
    gap: 12px;
    height: 56px;
    padding: 0 16px;
    background: var(--console-surface);
    border-bottom: 1px solid var(--console-border);
  }
  .brand {
    display: flex;
    align-items: center;
    gap: 10px;
    font-weight: 700;
    font-size: 15px;
    color: var(--console-text);
  }
  .brand svg {
    color: var(--console-accent);
  }
  .brand small {
    color: var(--console-faint);
    font-weight: 500;
  }
  .conn {
    display: inline-flex;
    align-items: center;
    gap: 6px;
    height: 24px;
    padding: 0 10px;
    border-radius: 999px;
    font-size: 12px;
    font-weight: 600;
    background: #e7f6ef;
    color: var(--console-success);
  }
  .conn::before {
    content: '';
    width: 7px;
    height: 7px;
    border-radius: 50%;
    background: currentColor;
  }
  .conn--connecting {
    background: #fff4e0;
    color: #9a5b00;
  }
  .conn--offline {
    background: #eef0f3;
    color: var(--console-muted);
  }
  .spacer {
    flex: 1;
  }
  .agents {
    display: flex;
    align-items: center;
  }
  .agents .avatar {
    width: 28px;
    height: 28px;
    font-size: 11px;
    border: 2px solid var(--console-surface);
  }
  .agents .avatar + .avatar {
    margin-left: -8px;
  }
  .agents__label {
    margin-left: 8px;
    font-size: 12px;
    color: var(--console-muted);
    white-space: nowrap;
  }
  .availability {
    display: inline-flex;
    align-items: center;
    gap: 6px;
  }
  .presence-dot {
    width: 8px;
    height: 8px;
    border-radius: 50%;
    background: #6b7280;
  }
  .presence-dot--online {
    background: #22a06b;
  }
  .icon-btn {
    display: inline-grid;
    place-items: center;
    width: 36px;
    height: 36px;
    border: 1px solid var(--console-border);
    border-radius: 8px;
    background: var(--console-surface);
    color: var(--console-muted);
  }
  .icon-btn:hover {
    color: var(--console-text);
    background: var(--console-bg);
  }
  .icon-btn[aria-pressed='true'] {
    color: var(--console-accent);
    background: var(--console-accent-soft);
    border-color: #c7d7f8;
  }
  .me {
    gap: 8px;
    padding-inline: 6px;
    font-size: 13px;
    font-weight: 600;
  }
  .me[aria-pressed='true'] {
    background: var(--console-accent-soft);
  }
  .me .avatar {
    width: 30px;
    height: 30px;
    font-size: 12px;
  }
  /* The Account and Team pages: one scroll area for all their cards (each card scrolling on its own squashed them into
     the row left under the top bar). */
  .settings {
    overflow: auto;
    min-height: 0;
  }
  .settings > * + * {
    padding-top: 0;
  }
  .panes {
    display: grid;
    grid-template-columns: minmax(280px, 360px) 1fr;
    min-height: 0;
  }
  console-inbox {
    border-right: 1px solid var(--console-border);
    min-height: 0;
  }
  console-thread {
    min-height: 0;
  }
  /* The open conversation with its visitor context: a collapsible section above it, or a column beside it. */
  .conversation {
    display: grid;
    grid-template-rows: auto minmax(0, 1fr);
    grid-template-columns: minmax(0, 1fr);
    min-height: 0;
    min-width: 0;
  }
  .conversation > console-visitor-context {
    border-bottom: 1px solid var(--console-border);
  }
  .conversation > console-thread:only-child {
    grid-row: 1 / -1;
  }
  .conversation--aside {
    grid-template-rows: minmax(0, 1fr);
    grid-template-columns: minmax(0, 1fr) 280px;
    grid-template-areas: 'thread context';
  }
  .conversation--aside > console-visitor-context {
    grid-area: context;
    overflow-y: auto;
    border-bottom: 0;
    border-left: 1px solid var(--console-border);
  }
  .conversation--aside > console-thread {
    grid-area: thread;
  }
  @media (max-width: 960px) {
    .panes {
      grid-template-columns: 300px 1fr;
    }
    .agents__label,
    .me__name,
    .brand small {
      display: none;
    }
  }
  @media (max-width: 480px) {
    /* A phone: the top bar keeps the logo, status and actions; the product name would push Sign out off screen. */
    .topbar {
      gap: 4px;
      padding: 0 6px;
    }
    .brand > span {
      display: none;
    }
    /*
     * Room for an admin's Inbox and Team buttons and one's own avatar (My account, where Sign out moves on a phone):
     * who is online, the connection's word (its coloured dot stays; the word is still read out) and the availability's
     * word show from 481 px.
     */
    .agents,
    .sign-out,
    .availability__label {
      display: none;
    }
    .conn {
      position: relative;
      padding: 0 8px;
    }
    .conn__text {
      position: absolute;
      width: 1px;
      height: 1px;
      overflow: hidden;
      clip: rect(0 0 0 0);
      white-space: nowrap;
    }
    .me {
      min-width: 44px;
      height: 44px;
    }
    /* Only its dot: the button's name says Online or Away. A 44 × 44 px target, as WCAG 2.5.5 asks of touch controls. */
    .availability {
      min-width: 44px;
      height: 44px;
      padding-inline: 10px;
    }
  }
  .panes--single {
    grid-template-columns: 1fr;
  }
  .panes--single console-inbox {
    border-right: 0;
  }
`;
