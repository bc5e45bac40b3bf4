/** Initials avatars, shared by the widget (above agents' replies) and the console (agents, visitors). */

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
