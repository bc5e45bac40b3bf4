/** The saved replies section of the Team page (admins): every saved reply with Delete, and the form that adds one. */
import { LitElement, html, nothing } from 'lit';
import type { SavedReply } from '../../protocol/assignment.ts';
import { baseStyles } from './shared.styles.ts';
import { teamStyles } from './console-team.styles.ts';
import { emit } from '../events.ts';
import { formText } from './form-text.ts';

/**
 * Lists and edits saved replies; changes go up as events, the root element applies them.
 * @fires console-saved-reply-save - `{shortcut, text}` when the form is submitted (an existing shortcut is replaced).
 * @fires console-saved-reply-delete - `{shortcut}` from a Delete button.
 */
export class ConsoleSavedReplies extends LitElement {
  static override styles = [baseStyles, teamStyles];
  static override properties = { savedReplies: { attribute: false }, error: { type: String } };

  declare savedReplies: readonly SavedReply[];
  declare error: string;

  constructor() {
    super();
    this.savedReplies = [];
    this.error = '';
  }

  override render() {
    return html`<div class="page">
      <section aria-labelledby="replies-title">
        <h2 id="replies-title">Saved replies</h2>
        <p class="hint">Agents type / and the shortcut in the reply box to insert one.</p>
        ${this.savedReplies.length === 0
          ? html`<p class="hint">No saved replies yet.</p>`
          : html`<table>
              <thead><tr><th scope="col">Shortcut</th><th scope="col">Text</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
              <tbody>
                ${this.savedReplies.map(
                  (r) => html`<tr>
                    <td>/${r.shortcut}</td>
                    <td dir="auto">${r.text}</td>
                    <td>
                      <button class="btn btn--ghost" type="button" aria-label="Delete /${r.shortcut}" @click=${() => emit(this, 'console-saved-reply-delete', { shortcut: r.shortcut })}>
                        Delete
                      </button>
                    </td>
                  </tr>`,
                )}
              </tbody>
            </table>`}
      </section>
      <section aria-labelledby="reply-add-title">
        <h2 id="reply-add-title">Add or change a saved reply</h2>
        <form @submit=${(event: SubmitEvent) => this.submit(event)}>
          <label for="reply-shortcut">Shortcut</label>
          <input id="reply-shortcut" name="shortcut" required maxlength="32" pattern="[a-z0-9][a-z0-9_\\-]*" autocomplete="off" />
          <label for="reply-text">Text</label>
          <textarea id="reply-text" name="text" required rows="3"></textarea>
          ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
          <button class="btn btn--primary" type="submit">Save reply</button>
        </form>
      </section>
    </div>`;
  }

  private submit(event: SubmitEvent): void {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    emit(this, 'console-saved-reply-save', { shortcut: formText(data, 'shortcut'), text: formText(data, 'text') });
    form.reset();
  }
}

customElements.define('console-saved-replies', ConsoleSavedReplies);

declare global {
  interface HTMLElementTagNameMap {
    'console-saved-replies': ConsoleSavedReplies;
  }
}
