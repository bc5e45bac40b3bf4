/**
 * The reply-by-email offer, built on its own into anon-chat-reply-by-email.js (build/reply-by-email-module-build.ts)
 * and imported by URL only once a session offers it while nobody is online, so none of it counts towards the
 * initial load: the optional address form (checked in the browser), then the address left with Change.
 */
import { html, type TemplateResult } from 'lit/html.js';
import type { CSSResult } from '@lit/reactive-element/css-tag.js';
import type { ReplyByEmail } from '../../protocol/events.ts';
import type { ConnectionController } from '../controllers/connection-controller.ts';
import { fill } from '../i18n/fill.ts';
import type { WidgetStrings } from '../i18n/en.ts';
import { replyByEmailStrings } from './reply-by-email-strings.ts';
import { pageUrl } from '../visitor-context/page-url.ts';
import { replyByEmailStyles } from './reply-by-email.styles.ts';

/** The element, as the offer uses it. */
export interface ReplyByEmailHost {
  requestUpdate(): void;
}

/** The offer as the element uses it. */
export interface WidgetReplyByEmail {
  readonly styles: CSSResult;
  /**
   * The form, or the address left so far (`offer.email`) with Change, in `lang` (the language the widget speaks);
   * `strings` are the widget's, whose reply-by-email entries exist only where the page overrides them.
   */
  render(strings: WidgetStrings, lang: string, offer: ReplyByEmail): TemplateResult;
}

/** Creates the reply-by-email offer; the address is stored through the connection's transport (`visitor:email`). */
export function createReplyByEmail(host: ReplyByEmailHost, connection: Pick<ConnectionController, 'session' | 'transport'>): WidgetReplyByEmail {
  // As stored (''), being edited, being saved, or refused.
  let state: '' | 'edit' | 'busy' | 'invalid' = '';
  const set = (next: typeof state): void => {
    state = next;
    host.requestUpdate();
  };
  const submit = (event: Event): void => {
    event.preventDefault();
    const input = (event.target as HTMLFormElement).elements.namedItem('email') as HTMLInputElement;
    const { session, transport } = connection;
    if (!session?.replyByEmail || !transport?.setEmail) return;
    const value = input.value.trim();
    if (!value || !input.checkValidity()) return set('invalid');
    set('busy');
    // The page goes with the address: e-mailed replies link back to where the visitor chatted.
    transport.setEmail(value, pageUrl()).then(
      (stored) => {
        session.replyByEmail = stored;
        set('');
      },
      () => set('invalid'),
    );
  };
  const change = (): void => set('edit');
  return {
    styles: replyByEmailStyles,
    render(strings, lang, offer) {
      const own = replyByEmailStrings[lang] ?? replyByEmailStrings[lang.toLowerCase().split('-')[0] ?? ''] ?? replyByEmailStrings.en!;
      const s = { ...own, ...strings };
      const email = offer.email;
      if (email !== undefined && (state === '' || state === 'busy')) {
        return html`<p class="email strip" part="reply-by-email">${fill(s.emailSaved, { email })}
          <button class="email-change" type="button" @click=${change}>${s.emailChange}</button></p>`;
      }
      return html`<form class="email strip" part="reply-by-email" novalidate @submit=${submit}>
        <label for="email">${s.emailOffer}</label>
        <span class="email-row">
          <input class="input" id="email" name="email" type="email" autocomplete="email" maxlength="254"
            aria-invalid=${state === 'invalid' ? 'true' : 'false'} aria-describedby="email-error" .value=${email ?? ''} />
          <button type="submit" ?disabled=${state === 'busy'}>${s.send}</button>
        </span>
        <span id="email-error" role="alert">${state === 'invalid' ? s.emailInvalid : ''}</span>
      </form>`;
    },
  };
}
