/** WhatsApp media end to end on the lowdb engine (the scenarios: whatsapp-media-contract.ts). */
import { startTestBridge } from '../testing/test-bridge.ts';
import { describeWhatsappMedia } from './whatsapp-media-contract.ts';

describeWhatsappMedia('lowdb', async (webhooks) => {
  const bridge = await startTestBridge({ config: { webhooks } });
  return { url: bridge.url, store: bridge.store, agentToken: bridge.agent.token, close: () => bridge.close() };
});
