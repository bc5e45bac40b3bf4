/** The assignment section of the Team page (admins): round-robin auto-assignment on or off. */
import { LitElement, html, nothing } from 'lit';
import type { AssignmentSettings } from '../../protocol/assignment.ts';
import { baseStyles } from './shared.styles.ts';
import { teamStyles } from './console-team.styles.ts';
import { emit } from '../events.ts';

/**
 * Turns round-robin on or off; the root element saves the change over REST as soon as the box is ticked or cleared.
 * @fires console-assignment-save - with the new `AssignmentSettings` when the box changes.
 */
export class ConsoleAssignmentSettings extends LitElement {
  static override styles = [baseStyles, teamStyles];
  static override properties = { settings: { attribute: false }, error: { type: String }, saved: { type: Boolean } };

  /** The stored settings; undefined until loaded. */
  declare settings: AssignmentSettings | undefined;
  declare error: string;
  /** True right after a change the bridge took. */
  declare saved: boolean;

  constructor() {
    super();
    this.settings = undefined;
    this.error = '';
    this.saved = false;
  }

  override render() {
    const settings = this.settings;
    return html`<div class="page">
      <section aria-labelledby="assignment-title">
        <h2 id="assignment-title">Assignment</h2>
        <p class="hint">A reply always assigns an unassigned conversation to whoever replied.</p>
        ${settings
          ? html`<label class="check"
                ><input
                  type="checkbox"
                  .checked=${settings.roundRobin}
                  @change=${(event: Event) => emit(this, 'console-assignment-save', { roundRobin: (event.target as HTMLInputElement).checked })}
                />
                Assign new conversations in turn (round-robin)</label
              >
              <p class="hint">Among the agents who are Online with a console open; with nobody there a conversation waits unassigned.</p>
              ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
              ${this.saved ? html`<p class="hint" role="status">Round-robin ${settings.roundRobin ? 'on' : 'off'}.</p>` : nothing}`
          : html`<p class="hint">Loading…</p>`}
      </section>
    </div>`;
  }
}

customElements.define('console-assignment-settings', ConsoleAssignmentSettings);

declare global {
  interface HTMLElementTagNameMap {
    'console-assignment-settings': ConsoleAssignmentSettings;
  }
}
