/** The console's English strings: bubble labels shared with the widget's renderer, channel names, initials. */
import type { BubbleLabels } from '../widget/ui/message-bubble.ts';
import type { Channel } from '../protocol/conversation.ts';

/** Labels the shared message bubble needs, from the agent's point of view. */
export const bubbleLabels: BubbleLabels = {
  sending: 'Sending',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
  failed: 'Not delivered',
  retry: 'Retry',
  failedPrefix: 'Not delivered:',
  agent: 'Agent',
  visitor: 'Visitor',
  system: 'System',
};

/** Display name of each channel (the inbox badge). */
export const channelLabels: Record<Channel, string> = { web: 'Web', whatsapp: 'WhatsApp', xmtp: 'XMTP' };

/** One or two initials for an avatar ("Maria Lopez" → "ML", "Visitor 4F2A" → "V4"). */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0] ?? '');
  return letters.join('').toLocaleUpperCase() || '?';
}

/** A stable avatar hue (0–359) for a conversation or agent id. */
export function hueOf(id: string): number {
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) >>> 0;
  return hash % 360;
}
