/**
 * Message text with its web addresses as links, shared by the widget and the console. Built from Lit text and
 * attribute bindings only: no HTML is ever made from message text, and only http(s) addresses become links.
 */
import { html, type TemplateResult } from 'lit/html.js';
import { textParts } from './text-links.ts';

/** The text as a template: plain parts as text bindings, addresses as links opening in a new tab without a referrer. */
export function renderMessageText(text: string): TemplateResult {
  return html`${textParts(text).map((part) =>
    part.href
      ? html`<a class="msg__link" href=${part.href} target="_blank" rel="noopener noreferrer nofollow">${part.text}</a>`
      : part.text,
  )}`;
}
