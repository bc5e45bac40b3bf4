/** WhatsApp messages sent before an erasure, on the PostgreSQL engine (the scenarios: whatsapp-erasure-contract.ts). */
import { startPostgresTestBridge } from '../testing/postgres-nodes.ts';
import { describeWhatsappErasure } from './whatsapp-erasure-contract.ts';

describeWhatsappErasure('PostgreSQL', (webhooks, logger) =>
  startPostgresTestBridge('whatsapp_erasure', (config) => ({ ...config, webhooks }), logger),
);
