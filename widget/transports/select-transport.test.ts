import { describe, expect, it } from 'vitest';
import { readXmtpConfig, XMTP_MODULE_FILE } from './select-transport.ts';

const element = (attributes: Record<string, string>) => ({
  getAttribute: (name: string) => attributes[name] ?? null,
  hasAttribute: (name: string) => name in attributes,
});

describe('readXmtpConfig', () => {
  it('turns XMTP on only with transport="xmtp" and a peer', () => {
    expect(readXmtpConfig(element({}))).toBeUndefined();
    expect(readXmtpConfig(element({ transport: 'xmtp' }))).toBeUndefined();
    expect(readXmtpConfig(element({ transport: 'realtime', 'xmtp-peer': '0xabc' }))).toBeUndefined();
    const config = readXmtpConfig(element({ transport: 'xmtp', 'xmtp-peer': ' 0xabc ', 'xmtp-env': 'dev' }))!;
    expect(config).toMatchObject({ env: 'dev', peer: '0xabc', identity: 'local' });
    expect(config.moduleUrl.endsWith(XMTP_MODULE_FILE)).toBe(true);
  });

  it('defaults to production, takes the wallet flag and a module URL override', () => {
    const config = readXmtpConfig(
      element({ transport: 'xmtp', 'xmtp-peer': 'inbox', 'xmtp-env': 'nonsense', 'xmtp-wallet': '', 'xmtp-module': 'https://cdn.example/x.js' }),
    )!;
    expect(config).toMatchObject({ env: 'production', identity: 'wallet', moduleUrl: 'https://cdn.example/x.js' });
  });
});
