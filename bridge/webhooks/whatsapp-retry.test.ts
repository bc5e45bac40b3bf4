/** An agent's Retry of a WhatsApp reply while its send is under way, on the lowdb engine (the scenarios: whatsapp-retry-contract.ts). */
import { startTestBridge } from '../testing/test-bridge.ts';
import { describeWhatsappRetry } from './whatsapp-retry-contract.ts';

describeWhatsappRetry('lowdb', async (webhooks) => {
  const bridge = await startTestBridge({ config: { webhooks } });
  return { url: bridge.url, store: bridge.store, agentToken: bridge.agent.token, close: () => bridge.close() };
});
