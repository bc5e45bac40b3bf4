/** The console's English strings: bubble labels shared with the widget's renderer, channel names; avatar initials. */
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

export { hueClass, initials } from '../widget/ui/initials.ts';
