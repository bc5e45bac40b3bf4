/**
 * The visitor-context panel of a web conversation (#13): the page the visitor is on (a link only for http/https),
 * its title (text), referrer, browser, OS, language and the visitor's local time, ticking with the injected clock.
 * Everything in it is what the visitor's browser reported: shown as text, trusted for nothing.
 */
import { LitElement, html, nothing, type TemplateResult } from 'lit';
import type { VisitorContext } from '../../protocol/visitor-context.ts';
import { ClockController } from '../controllers/clock-controller.ts';
import { baseStyles } from './shared.styles.ts';
import { visitorContextStyles } from './console-visitor-context.styles.ts';
import { formatUtcOffset, languageName, safeHref, visitorLocalTime } from '../state/visitor-context.ts';

/**
 * Visitor context panel. Set `collapsible` on narrow screens: it is then a closed disclosure showing the page title.
 * @csspart panel - the section (or disclosure) holding the list.
 */
export class ConsoleVisitorContext extends LitElement {
  static override styles = [baseStyles, visitorContextStyles];
  static override properties = {
    context: { attribute: false },
    collapsible: { type: Boolean, reflect: true },
    locale: { type: String },
    clock: { attribute: false },
  };

  /** `undefined` while it is read, `null` when the visitor reported nothing. */
  declare context: VisitorContext | null | undefined;
  declare collapsible: boolean;
  declare locale: string;
  /** Where the time comes from (tests inject their own). */
  declare clock: () => Date;

  private readonly time = new ClockController(this, () => this.clock());

  constructor() {
    super();
    this.context = undefined;
    this.collapsible = false;
    this.locale = '';
    this.clock = () => new Date();
  }

  override render(): TemplateResult {
    const heading = html`<h2 id="visitor-context-title">Visitor</h2>`;
    const body = this.renderBody();
    if (this.collapsible) {
      const page = this.context ? this.context.title || this.context.url : '';
      return html`<details part="panel">
        <summary>${heading}<span class="summary__page">${page}</span></summary>
        ${body}
      </details>`;
    }
    return html`<section part="panel" aria-labelledby="visitor-context-title">${heading}${body}</section>`;
  }

  private renderBody(): TemplateResult {
    const c = this.context;
    if (c === undefined) return html`<p class="empty" role="status">Loading…</p>`;
    if (c === null) return html`<p class="empty">No page reported yet.</p>`;
    const locale = this.locale || undefined;
    const href = safeHref(c.url);
    const offset = formatUtcOffset(c.utcOffsetMinutes);
    const language = c.language ? languageName(c.language, locale) : undefined;
    return html`<dl>
      <dt>Page</dt>
      <dd data-context="url">
        ${href ? html`<a href=${href} target="_blank" rel="noopener noreferrer nofollow">${c.url}</a>` : c.url}
      </dd>
      <dt>Page title</dt>
      <dd data-context="title">${c.title || html`<span class="empty">(none)</span>`}</dd>
      ${c.referrer ? html`<dt>Came from</dt><dd data-context="referrer">${c.referrer}</dd>` : nothing}
      <dt>Browser</dt>
      <dd data-context="browser">${c.browser ?? 'Unknown'}</dd>
      <dt>Operating system</dt>
      <dd data-context="os">${c.os ?? 'Unknown'}${c.device ? ` · ${c.device}` : ''}</dd>
      ${c.language ? html`<dt>Language</dt><dd data-context="language">${language ? `${language} (${c.language})` : c.language}</dd>` : nothing}
      <dt>Local time</dt>
      <dd data-context="local-time">
        <time>${visitorLocalTime(c, this.time.value, locale)}</time> (${c.timeZone ? `${c.timeZone}, ${offset}` : offset})
      </dd>
    </dl>`;
  }
}

customElements.define('console-visitor-context', ConsoleVisitorContext);

declare global {
  interface HTMLElementTagNameMap {
    'console-visitor-context': ConsoleVisitorContext;
  }
}
