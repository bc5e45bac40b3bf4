/** The page an invite link opens: the new agent chooses their password and is signed in. */
import { LitElement, html, nothing } from 'lit';
import { baseStyles } from './shared.styles.ts';
import { signInStyles } from './console-sign-in.styles.ts';
import { logoMark } from './logo.ts';
import { emit } from '../events.ts';
import { formText } from './form-text.ts';

/**
 * Password form of an invite (the sign-in card's look).
 * @fires console-invite-accept - with `{password}` when both fields match.
 */
export class ConsoleInvite extends LitElement {
  static override styles = [baseStyles, signInStyles];
  static override properties = { busy: { type: Boolean }, error: { type: String }, mismatch: { state: true } };

  declare busy: boolean;
  declare error: string;
  declare mismatch: boolean;

  constructor() {
    super();
    this.busy = false;
    this.error = '';
    this.mismatch = false;
  }

  override render() {
    const problem = this.mismatch ? 'The two passwords differ.' : this.error;
    return html`<form
      class="card"
      aria-labelledby="title"
      @submit=${(event: SubmitEvent) => {
        event.preventDefault();
        const data = new FormData(event.target as HTMLFormElement);
        const password = formText(data, 'password');
        this.mismatch = password !== formText(data, 'repeat');
        if (!this.mismatch) emit(this, 'console-invite-accept', { password });
      }}
    >
      <div class="brand">${logoMark()}<span>anon-chat</span></div>
      <h1 id="title">Welcome to the team</h1>
      <p class="lead">Choose the password you will sign in with (at least 10 characters).</p>
      <label for="password">New password</label>
      <input id="password" name="password" type="password" autocomplete="new-password" minlength="10" required autofocus />
      <label for="repeat">Repeat the password</label>
      <input id="repeat" name="repeat" type="password" autocomplete="new-password" minlength="10" required />
      ${problem ? html`<div class="error" role="alert">${problem}</div>` : nothing}
      <button class="btn btn--primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Saving…' : 'Set password and sign in'}</button>
    </form>`;
  }
}

customElements.define('console-invite', ConsoleInvite);

declare global {
  interface HTMLElementTagNameMap {
    'console-invite': ConsoleInvite;
  }
}
