/** The business hours section of the Team page (admins): on or off, the time zone, one opening period per weekday. */
import { LitElement, html, nothing } from 'lit';
import { WEEKDAYS, type BusinessHours, type OpeningPeriod, type Weekday } from '../../protocol/business-hours.ts';
import { baseStyles } from './shared.styles.ts';
import { teamStyles } from './console-team.styles.ts';
import { emit } from '../events.ts';
import { formText } from './form-text.ts';

const DAY_TEXT: Record<Weekday, string> = {
  mon: 'Monday',
  tue: 'Tuesday',
  wed: 'Wednesday',
  thu: 'Thursday',
  fri: 'Friday',
  sat: 'Saturday',
  sun: 'Sunday',
};

/** The zones this browser knows, offered as suggestions; the bridge checks the one typed. */
const TIME_ZONES: readonly string[] = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];

/**
 * Edits the business hours; the root element saves them over REST.
 * @fires console-business-hours-save - with the `BusinessHours` when the form is submitted.
 */
export class ConsoleBusinessHours extends LitElement {
  static override styles = [baseStyles, teamStyles];
  static override properties = { hours: { attribute: false }, error: { type: String }, saved: { type: Boolean } };

  /** The stored hours; undefined until loaded. */
  declare hours: BusinessHours | undefined;
  declare error: string;
  /** True right after a save the bridge took. */
  declare saved: boolean;

  constructor() {
    super();
    this.hours = undefined;
    this.error = '';
    this.saved = false;
  }

  override render() {
    const hours = this.hours;
    return html`<div class="page">
      <section aria-labelledby="hours-title">
        <h2 id="hours-title">Business hours</h2>
        <p class="hint">Outside them visitors see the whole team as away, whatever each agent set.</p>
        ${hours
          ? html`<form @submit=${this.submit}>
              <label class="check"><input type="checkbox" name="enabled" ?checked=${hours.enabled} /> Use business hours</label>
              <label for="hours-zone">Time zone</label>
              <input id="hours-zone" name="timeZone" required maxlength="64" list="hours-zones" autocomplete="off" .value=${hours.timeZone} />
              <datalist id="hours-zones">${TIME_ZONES.map((zone) => html`<option value=${zone}></option>`)}</datalist>
              <table>
                <thead><tr><th scope="col">Day</th><th scope="col">Opens</th><th scope="col">Closes</th></tr></thead>
                <tbody>${WEEKDAYS.map((day) => this.renderDay(day, hours.weekly[day][0]))}</tbody>
              </table>
              <p class="hint">A day not ticked is closed. Closing at 00:00 means midnight.</p>
              ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
              ${this.saved ? html`<p class="hint" role="status">Business hours saved.</p>` : nothing}
              <button class="btn btn--primary" type="submit">Save business hours</button>
            </form>`
          : html`<p class="hint">Loading…</p>`}
      </section>
    </div>`;
  }

  private renderDay(day: Weekday, period: OpeningPeriod | undefined) {
    const name = DAY_TEXT[day];
    return html`<tr>
      <td><label class="check"><input type="checkbox" name="${day}-open" ?checked=${period !== undefined} /> ${name}</label></td>
      <td><input type="time" name="${day}-from" aria-label="${name} opens" .value=${period?.from ?? '09:00'} /></td>
      <td><input type="time" name="${day}-to" aria-label="${name} closes" .value=${period ? period.to.replace('24:00', '00:00') : '17:00'} /></td>
    </tr>`;
  }

  private readonly submit = (event: SubmitEvent): void => {
    event.preventDefault();
    const hours = this.hours;
    if (!hours) return;
    const data = new FormData(event.target as HTMLFormElement);
    const weekly = { ...hours.weekly };
    for (const day of WEEKDAYS) {
      const to = formText(data, `${day}-to`);
      // The form edits a day's first period; further ones (set over REST) are kept as they are.
      weekly[day] = data.has(`${day}-open`)
        ? [{ from: formText(data, `${day}-from`), to: to === '00:00' ? '24:00' : to }, ...hours.weekly[day].slice(1)]
        : [];
    }
    emit(this, 'console-business-hours-save', { enabled: data.has('enabled'), timeZone: formText(data, 'timeZone').trim(), weekly });
  };
}

customElements.define('console-business-hours', ConsoleBusinessHours);

declare global {
  interface HTMLElementTagNameMap {
    'console-business-hours': ConsoleBusinessHours;
  }
}
