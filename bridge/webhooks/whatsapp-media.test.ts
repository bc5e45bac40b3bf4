/** WhatsApp media end to end on the lowdb engine (the scenarios: whatsapp-media-contract.ts). */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FILES_DIR } from '../store/lowdb/attachment-files.ts';
import { startTestBridge } from '../testing/test-bridge.ts';
import { describeWhatsappMedia } from './whatsapp-media-contract.ts';

describeWhatsappMedia('lowdb', async (webhooks, logger) => {
  const bridge = await startTestBridge({ config: { webhooks }, logger });
  return {
    url: bridge.url,
    store: bridge.store,
    agentToken: bridge.agent.token,
    async storedFiles() {
      const entries = await readdir(join(bridge.dataDir, FILES_DIR), { recursive: true, withFileTypes: true }).catch(() => []);
      return entries.filter((entry) => entry.isFile()).length;
    },
    close: () => bridge.close(),
  };
});
