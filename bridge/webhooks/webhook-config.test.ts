import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config.ts';
import { DEFAULT_WHATSAPP_API_BASE } from './webhook-config.ts';

const base = {
  VISITOR_TOKEN_SECRET: 'v'.repeat(32),
  AGENT_TOKEN_SECRET: 'a'.repeat(32),
  SITE_SECRET: 's'.repeat(32),
};
const load = (env: Record<string, string>) => loadConfig({ ...base, ...env }, { persistSecrets: false });

describe('webhook settings in loadConfig', () => {
  it('defaults: everything off, Meta Graph API with a version, private receivers refused', () => {
    const { webhooks } = load({});
    expect(webhooks.whatsapp).toMatchObject({ apiBase: DEFAULT_WHATSAPP_API_BASE, verifyToken: undefined, appSecret: undefined, send: undefined });
    expect(DEFAULT_WHATSAPP_API_BASE).toMatch(/^https:\/\/graph\.facebook\.com\/v\d+\.\d+$/);
    expect(webhooks.statusWebhookSecret).toBeUndefined();
    expect(webhooks.events).toMatchObject({ urls: [], allowPrivate: false });
  });

  it('reads every variable', () => {
    const { webhooks } = load({
      WHATSAPP_VERIFY_TOKEN: 'verify-123',
      WHATSAPP_APP_SECRET: 'app-secret-123',
      WHATSAPP_ACCESS_TOKEN: 'EAAG-123456',
      WHATSAPP_PHONE_NUMBER_ID: '106540352242922',
      WHATSAPP_API_BASE: 'http://127.0.0.1:9999/v99.0/',
      STATUS_WEBHOOK_SECRET: 'status-secret-0123456',
      WEBHOOK_URLS: 'https://a.example/hook, https://b.example/x',
      WEBHOOK_SECRET: 'webhook-secret-012345',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_MAX_ATTEMPTS: '3',
      QUEUE_LEASE_MS: '20000',
    });
    expect(webhooks.whatsapp.send).toEqual({ accessToken: 'EAAG-123456', phoneNumberId: '106540352242922' });
    expect(webhooks.whatsapp.apiBase).toBe('http://127.0.0.1:9999/v99.0');
    expect(webhooks.events).toMatchObject({ urls: ['https://a.example/hook', 'https://b.example/x'], allowPrivate: true, retry: { maxAttempts: 3 } });
    expect(webhooks.leaseMs).toBe(20_000);
    expect(load({}).webhooks.leaseMs).toBe(60_000);
  });

  it.each([
    [{ WEBHOOK_URLS: 'https://a.example/hook' }, 'WEBHOOK_SECRET'],
    [{ WEBHOOK_URLS: 'ftp://a.example/', WEBHOOK_SECRET: 'w'.repeat(20) }, 'WEBHOOK_URLS'],
    [{ WEBHOOK_URLS: 'https://user:pw@a.example/', WEBHOOK_SECRET: 'w'.repeat(20) }, 'WEBHOOK_URLS'],
    [{ WEBHOOK_SECRET: 'short' }, 'WEBHOOK_SECRET'],
    [{ WHATSAPP_PHONE_NUMBER_ID: '+1 555' }, 'WHATSAPP_PHONE_NUMBER_ID'],
    [{ WEBHOOK_ALLOW_PRIVATE: 'maybe' }, 'WEBHOOK_ALLOW_PRIVATE'],
    [{ QUEUE_LEASE_MS: '15000' }, 'QUEUE_LEASE_MS'],
    [{ QUEUE_LEASE_MS: '5000', WHATSAPP_TIMEOUT_MS: '4000', WEBHOOK_TIMEOUT_MS: '5000' }, 'QUEUE_LEASE_MS'],
  ])('refuses %o naming %s', (env, variable) => {
    expect(() => load(env as Record<string, string>)).toThrow(ConfigError);
    expect(() => load(env as Record<string, string>)).toThrow(variable);
  });
});
