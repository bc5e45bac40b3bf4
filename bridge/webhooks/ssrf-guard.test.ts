import { describe, expect, it } from 'vitest';
import { assertLiteralHostAllowed, ForbiddenAddressError, guardedLookup, isPrivateAddress } from './ssrf-guard.ts';

describe('isPrivateAddress', () => {
  it.each([
    '127.0.0.1', '127.9.9.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254',
    '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '64:ff9b::a9fe:a9fe', 'ff02::1', 'not-an-ip',
    '::7f00:1', '64:ff9b:1::a00:1', '2002:7f00:1::', '2001:db8::1', '198.18.0.1', '192.0.2.1', '240.0.0.1',
  ])('refuses %s', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['8.8.8.8', '172.32.0.1', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])(
    'allows public %s',
    (address) => {
      expect(isPrivateAddress(address)).toBe(false);
    },
  );
});

describe('guards', () => {
  it('refuses literal private hosts, including bracketed IPv6', () => {
    expect(() => assertLiteralHostAllowed(new URL('http://127.0.0.1:9/x'))).toThrow(ForbiddenAddressError);
    expect(() => assertLiteralHostAllowed(new URL('http://[::1]:9/x'))).toThrow(ForbiddenAddressError);
    expect(() => assertLiteralHostAllowed(new URL('http://8.8.8.8/x'))).not.toThrow();
    expect(() => assertLiteralHostAllowed(new URL('https://example.com/x'))).not.toThrow();
  });

  it('lookup refuses a name when any resolved address is private (real resolver: localhost)', async () => {
    await expect(guardedLookup()('localhost')).rejects.toBeInstanceOf(ForbiddenAddressError);
    const mixed = guardedLookup(async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.5', family: 4 },
    ]);
    await expect(mixed('rebind.example')).rejects.toBeInstanceOf(ForbiddenAddressError);
    const fine = guardedLookup(async () => [{ address: '93.184.216.34', family: 4 }]);
    await expect(fine('example.com')).resolves.toEqual({ address: '93.184.216.34', family: 4 });
  });
});
