/** Styles of the Team page. */
import { css } from 'lit';

/** Team page layout: the list of agents and the "Add an agent" form side by side (stacked when narrow). */
export const teamStyles = css`
  :host {
    display: block;
    padding: 24px;
    background: var(--console-bg);
  }
  .page {
    display: grid;
    grid-template-columns: minmax(0, 2fr) minmax(260px, 1fr);
    gap: 24px;
    max-width: 1100px;
    margin: 0 auto;
  }
  @media (max-width: 719px) {
    .page {
      grid-template-columns: 1fr;
    }
  }
  section {
    background: var(--console-surface);
    border: 1px solid var(--console-border);
    border-radius: 12px;
    padding: 20px;
  }
  h2 {
    margin: 0 0 16px;
    font-size: 18px;
  }
  table {
    width: 100%;
    border-collapse: collapse;
    font-size: 14px;
  }
  th {
    text-align: start;
    font-size: 12px;
    font-weight: 600;
    color: var(--console-muted);
    padding: 0 8px 8px;
  }
  td {
    padding: 10px 8px;
    border-top: 1px solid var(--console-border);
    vertical-align: middle;
  }
  .who {
    display: flex;
    align-items: center;
    gap: 10px;
  }
  .who small {
    display: block;
    color: var(--console-muted);
  }
  .inactive {
    color: var(--console-muted);
  }
  .badge {
    display: inline-block;
    padding: 1px 8px;
    border-radius: 999px;
    font-size: 12px;
    background: var(--console-bg);
    border: 1px solid var(--console-border);
  }
  label {
    display: block;
    margin: 12px 0 6px;
    font-size: 13px;
    font-weight: 600;
  }
  input,
  select {
    display: block;
    width: 100%;
    height: 36px;
    padding: 0 10px;
    font: inherit;
    color: inherit;
    background: var(--console-surface);
    border: 1px solid var(--console-border);
    border-radius: 8px;
  }
  label.check {
    display: flex;
    align-items: center;
    gap: 8px;
    font-weight: 400;
  }
  label.check input {
    width: auto;
    height: auto;
  }
  td select {
    width: auto;
  }
  .actions {
    display: flex;
    flex-wrap: wrap;
    gap: 6px;
    justify-content: flex-end;
  }
  td input.email {
    min-width: 180px;
  }
  .hint {
    margin: 6px 0 0;
    font-size: 12px;
    color: var(--console-muted);
  }
  form .btn {
    margin-top: 16px;
  }
  .error {
    margin-top: 12px;
    color: var(--console-danger, #b42318);
    font-size: 13px;
  }
  .invite {
    margin-top: 16px;
    padding: 12px;
    border-radius: 8px;
    background: var(--console-bg);
    font-size: 13px;
    overflow-wrap: anywhere;
  }
  @media (max-width: 480px) {
    /* A phone: fields and buttons are 44 px tall touch targets (WCAG 2.5.5), and the page keeps less margin. */
    :host {
      padding: 12px;
    }
    input,
    select,
    .btn {
      height: 44px;
    }
  }
`;
