/** An agent's Retry of a WhatsApp reply while its send is under way, on the PostgreSQL engine (the scenarios: whatsapp-retry-contract.ts). */
import { startPostgresTestBridge } from '../testing/postgres-nodes.ts';
import { describeWhatsappRetry } from './whatsapp-retry-contract.ts';

describeWhatsappRetry('PostgreSQL', (webhooks) => startPostgresTestBridge('whatsapp_retry', (config) => ({ ...config, webhooks })));
