/** "My account": the signed-in agent changes their own display name and password. */
import { LitElement, css, html, nothing } from 'lit';
import { baseStyles } from './shared.styles.ts';
import { teamStyles } from './console-team.styles.ts';
import { emit } from '../events.ts';
import { formText } from './form-text.ts';
import './console-push.ts';
import type { AgentRestOptions } from '../agent-rest.ts';

/** What one of the account forms last heard back: nothing yet, a refusal, or a done change. */
export type AccountFormResult = { ok: true; text: string } | { ok: false; text: string } | undefined;

/**
 * Two forms on the Team page's layout; changes go up as events, the root element applies them and sets the results.
 * @fires console-profile-save - with `{displayName}` when the name form is submitted.
 * @fires console-password-change - with `{current, next}` when both new password fields match.
 * @fires console-sign-out - from the Sign out button, shown on phones only (the top bar has no room for one there).
 */
export class ConsoleAccount extends LitElement {
  static override styles = [
    baseStyles,
    teamStyles,
    css`
      .sign-out {
        display: none;
      }
      @media (max-width: 480px) {
        .sign-out {
          display: block;
        }
      }
    `,
  ];
  static override properties = {
    displayName: { type: String },
    name: { type: String },
    profileResult: { attribute: false },
    passwordResult: { attribute: false },
    busy: { type: Boolean },
    rest: { attribute: false },
    mismatch: { state: true },
  };

  /** The agent's display name now. */
  declare displayName: string;
  /** Login name (shown, not editable). */
  declare name: string;
  declare profileResult: AccountFormResult;
  declare passwordResult: AccountFormResult;
  declare busy: boolean;
  /** The bridge and the agent's token, for this browser's notification opt-in. */
  declare rest: AgentRestOptions | undefined;
  declare mismatch: boolean;

  constructor() {
    super();
    this.displayName = '';
    this.name = '';
    this.profileResult = undefined;
    this.passwordResult = undefined;
    this.busy = false;
    this.rest = undefined;
    this.mismatch = false;
  }

  override render() {
    const passwordResult: AccountFormResult = this.mismatch ? { ok: false, text: 'The two new passwords differ.' } : this.passwordResult;
    return html`<div class="page">
      <section aria-labelledby="profile-title">
        <h2 id="profile-title">My account</h2>
        <p class="hint">Signed in as ${this.name}.</p>
        <form @submit=${this.saveProfile}>
          <label for="own-display">Your display name</label>
          <input id="own-display" name="displayName" required maxlength="60" autocomplete="name" .value=${this.displayName} />
          <p class="hint">Visitors see this name above your replies.</p>
          <button class="btn btn--primary" type="submit" ?disabled=${this.busy}>Save name</button>
        </form>
        ${this.renderResult(this.profileResult)}
      </section>
      <section aria-labelledby="password-title">
        <h2 id="password-title">Password</h2>
        <form @submit=${this.changePassword}>
          <label for="current-password">Current password</label>
          <input id="current-password" name="current" type="password" required autocomplete="current-password" />
          <label for="next-password">New password</label>
          <input id="next-password" name="next" type="password" required minlength="10" autocomplete="new-password" />
          <label for="repeat-password">Repeat the new password</label>
          <input id="repeat-password" name="repeat" type="password" required minlength="10" autocomplete="new-password" />
          <p class="hint">At least 10 characters. Your other sessions (other browsers and devices) are signed out.</p>
          <button class="btn btn--primary" type="submit" ?disabled=${this.busy}>Change password</button>
        </form>
        ${this.renderResult(passwordResult)}
      </section>
      ${this.rest ? html`<console-push .rest=${this.rest}></console-push>` : nothing}
      <section class="sign-out" aria-label="Sign out">
        <button class="btn btn--ghost" type="button" @click=${() => emit(this, 'console-sign-out', {})}>Sign out</button>
      </section>
    </div>`;
  }

  private renderResult(result: AccountFormResult) {
    if (!result) return nothing;
    return result.ok ? html`<div class="invite" role="status">${result.text}</div>` : html`<div class="error" role="alert">${result.text}</div>`;
  }

  private readonly saveProfile = (event: SubmitEvent): void => {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    emit(this, 'console-profile-save', { displayName: formText(data, 'displayName').trim() });
  };

  private readonly changePassword = (event: SubmitEvent): void => {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const next = formText(data, 'next');
    this.mismatch = next !== formText(data, 'repeat');
    if (this.mismatch) return;
    emit(this, 'console-password-change', { current: formText(data, 'current'), next });
    form.reset();
  };
}

customElements.define('console-account', ConsoleAccount);

declare global {
  interface HTMLElementTagNameMap {
    'console-account': ConsoleAccount;
  }
}
