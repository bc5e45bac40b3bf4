/** WhatsApp media end to end on the PostgreSQL engine (the scenarios: whatsapp-media-contract.ts). */
import { startPostgresTestBridge } from '../testing/postgres-nodes.ts';
import { describeWhatsappMedia } from './whatsapp-media-contract.ts';

describeWhatsappMedia('PostgreSQL', async (webhooks, logger) => {
  const bridge = await startPostgresTestBridge('whatsapp_media', (config) => ({ ...config, webhooks }), logger);
  return {
    ...bridge,
    async storedFiles() {
      const { rows } = await bridge.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM attachments');
      return rows[0]!.n;
    },
  };
});
