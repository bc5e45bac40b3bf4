/** Initials avatars, shared by the widget (above agents' replies) and the console (agents, visitors). */
import { unsafeCSS } from 'lit';

/** One or two initials for an avatar ("Maria Lopez" → "ML", "Visitor 4F2A" → "V4"). */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0] ?? '');
  return letters.join('').toLocaleUpperCase() || '?';
}

/** A stable avatar hue (0–359) for a conversation, agent id or name. */
export function hueOf(id: string): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) >>> 0;
  return hash % 360;
}

/** How many avatar hues there are, evenly spaced around the colour wheel. */
const AVATAR_HUES = 24;

/**
 * The class (`hue-0` … `hue-23`) that gives an avatar its stable hue, as `--avatar-hue`. A class, not a style
 * attribute: a page with a strict Content-Security-Policy (no `'unsafe-inline'` styles) refuses style attributes,
 * and Lit's styleMap writes one on first render.
 */
export function hueClass(id: string): string {
  return `hue-${Math.round(hueOf(id) / (360 / AVATAR_HUES)) % AVATAR_HUES}`;
}

/** The `hue-N` rules, adopted with the avatar styles (built from constants only). */
export const avatarHueStyles = unsafeCSS(
  Array.from({ length: AVATAR_HUES }, (_, i) => `.hue-${i}{--avatar-hue:${(i * 360) / AVATAR_HUES}}`).join(''),
);
