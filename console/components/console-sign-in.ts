/** The sign-in form of the agent console. */
import { LitElement, html, nothing } from 'lit';
import { baseStyles } from './shared.styles.ts';
import { signInStyles } from './console-sign-in.styles.ts';
import { logoMark } from './logo.ts';
import { emit } from '../events.ts';
import { formText } from './form-text.ts';

/**
 * Agent name and password form.
 * @fires console-sign-in - with `{name, password}` when submitted.
 */
export class ConsoleSignIn extends LitElement {
  static override styles = [baseStyles, signInStyles];
  static override properties = { busy: { type: Boolean }, error: { type: String } };

  declare busy: boolean;
  declare error: string;

  constructor() {
    super();
    this.busy = false;
    this.error = '';
  }

  override render() {
    return html`<form
      class="card"
      aria-labelledby="title"
      @submit=${(event: SubmitEvent) => {
        event.preventDefault();
        const data = new FormData(event.target as HTMLFormElement);
        emit(this, 'console-sign-in', { name: formText(data, 'name').trim(), password: formText(data, 'password') });
      }}
    >
      <div class="brand">${logoMark()}<span>anon-chat</span></div>
      <h1 id="title">Sign in to the console</h1>
      <p class="lead">Answer your visitors on the web and WhatsApp.</p>
      <label for="name">Agent name</label>
      <input id="name" name="name" autocomplete="username" required autofocus />
      <label for="password">Password</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required />
      ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
      <button class="btn btn--primary" type="submit" ?disabled=${this.busy}>${this.busy ? 'Signing in…' : 'Sign in'}</button>
      <p class="hint">The first start of the bridge prints the admin's one-time password.</p>
    </form>`;
  }
}

customElements.define('console-sign-in', ConsoleSignIn);

declare global {
  interface HTMLElementTagNameMap {
    'console-sign-in': ConsoleSignIn;
  }
}
