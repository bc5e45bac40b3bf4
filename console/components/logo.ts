/** The anon-chat mark: a speech bubble, drawn inline so the console needs no image request. */
import { svg } from 'lit';

/** The logo mark at `size` pixels; decorative (the product name is next to it). */
export function logoMark(size = 28): ReturnType<typeof svg> {
  return svg`<svg width=${size} height=${size} viewBox="0 0 32 32" aria-hidden="true" focusable="false"><rect width="32" height="32" rx="9" fill="currentColor"/><path d="M9 11.5A3.5 3.5 0 0 1 12.5 8h7A3.5 3.5 0 0 1 23 11.5v5a3.5 3.5 0 0 1-3.5 3.5H15l-4.2 3.3c-.5.4-1.3 0-1.3-.6V20.1A3.5 3.5 0 0 1 9 16.5z" fill="#fff"/><circle cx="13" cy="14" r="1.3" fill="currentColor"/><circle cx="16" cy="14" r="1.3" fill="currentColor"/><circle cx="19" cy="14" r="1.3" fill="currentColor"/></svg>`;
}
