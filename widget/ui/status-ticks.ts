/** Delivery ticks of an own message (clock, ✓, ✓✓, ✓✓ in a filled pill, !), shared by the widget and the console. */
import { html, svg, type TemplateResult } from 'lit';
import type { MessageStatus } from '../../protocol/status.ts';

/** Accessible names of each status ("Sending", "Sent", "Delivered", "Read", "Not sent"). */
export type StatusLabels = Record<MessageStatus, string>;

const clock = svg`<svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true" focusable="false"><circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round"/></svg>`;

const glyphs: Record<MessageStatus, TemplateResult | string> = {
  sending: clock,
  sent: '✓',
  delivered: '✓✓',
  read: html`<span>✓✓</span>`,
  failed: '!',
};

/**
 * The tick glyph for `status`, as an image with the status' label as its accessible name (and no `title`: it would
 * repeat the name as a description).
 */
export function renderStatusTicks(status: MessageStatus, labels: StatusLabels): TemplateResult {
  return html`<span class="ticks ticks--${status}" part="ticks ticks-${status}" role="img" aria-label=${labels[status]}>${glyphs[status]}</span>`;
}
