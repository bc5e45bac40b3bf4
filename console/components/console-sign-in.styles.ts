/** Styles of the sign-in card. */
import { css } from 'lit';

/** Sign-in layout: a centred card on the console background. */
export const signInStyles = css`
  :host {
    display: grid;
    place-items: center;
    min-height: 100%;
    padding: 24px;
    background:
      radial-gradient(1200px 600px at 10% -10%, #dfe8fb 0%, transparent 60%),
      radial-gradient(900px 500px at 110% 110%, #e9e3fb 0%, transparent 55%),
      var(--console-bg);
  }
  .card {
    width: min(400px, 100%);
    padding: 36px 32px 28px;
    background: var(--console-surface);
    border: 1px solid var(--console-border);
    border-radius: 16px;
    box-shadow: 0 12px 32px rgb(16 24 40 / 10%);
  }
  .brand {
    display: flex;
    align-items: center;
    gap: 10px;
    margin-bottom: 24px;
    font-weight: 700;
    font-size: 16px;
  }
  .brand svg {
    color: var(--console-accent);
  }
  h1 {
    margin: 0 0 4px;
    font-size: 22px;
    font-weight: 700;
    letter-spacing: -0.01em;
  }
  p.lead {
    margin: 0 0 24px;
    color: var(--console-muted);
    font-size: 14px;
  }
  label {
    display: block;
    margin-bottom: 6px;
    font-size: 13px;
    font-weight: 600;
  }
  input {
    display: block;
    width: 100%;
    height: 40px;
    margin-bottom: 16px;
    padding: 0 12px;
    font: inherit;
    font-size: 15px;
    color: inherit;
    background: var(--console-surface);
    border: 1px solid #cfd5dd;
    border-radius: 8px;
  }
  input:focus-visible {
    border-color: var(--console-accent);
  }
  .error {
    margin: -4px 0 16px;
    padding: 10px 12px;
    border-radius: 8px;
    color: var(--console-danger);
    background: #fdecea;
    font-size: 13px;
  }
  .btn {
    width: 100%;
    height: 42px;
    font-size: 15px;
  }
  .hint {
    margin: 20px 0 0;
    color: var(--console-faint);
    font-size: 12px;
    text-align: center;
  }
`;
