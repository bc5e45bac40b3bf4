/** WhatsApp messages sent before an erasure, on the lowdb engine (the scenarios: whatsapp-erasure-contract.ts). */
import { startTestBridge } from '../testing/test-bridge.ts';
import { describeWhatsappErasure } from './whatsapp-erasure-contract.ts';

describeWhatsappErasure('lowdb', async (webhooks, logger) => {
  const bridge = await startTestBridge({ config: { webhooks }, logger });
  return { url: bridge.url, store: bridge.store, agentToken: bridge.agent.token, close: () => bridge.close() };
});
