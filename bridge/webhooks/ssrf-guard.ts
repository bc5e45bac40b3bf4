/**
 * Keeps outbound event webhooks off internal networks: receiver addresses on loopback, private, link-local,
 * CGNAT, multicast or reserved ranges are refused unless explicitly allowed. The check runs inside the HTTP
 * client's DNS lookup, so the address that is checked is the address that is connected to (no DNS rebinding
 * between a check and the request).
 */
import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** The IPv4 address embedded in an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) IPv6 address. */
function embeddedIpv4(address: string): string | undefined {
  const groups = expandIpv6(address);
  if (!groups) return undefined;
  const isMapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
  const isNat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
  const isCompatible = groups.slice(0, 6).every((g) => g === 0) && (groups[6] ?? 0) !== 0;
  if (!isMapped && !isNat64 && !isCompatible) return undefined;
  const hi = groups[6] ?? 0;
  const lo = groups[7] ?? 0;
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** The eight 16-bit groups of an IPv6 address (dotted IPv4 tails included), or undefined if it is not one. */
function expandIpv6(address: string): number[] | undefined {
  let text = address.split('%')[0] ?? '';
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const parts = dotted[1].split('.').map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = parts;
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail].map((g) =>
    /^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : Number.NaN,
  );
  return groups.some(Number.isNaN) ? undefined : groups;
}

/** True when `address` (an IP literal) is loopback, private, link-local, CGNAT, multicast or otherwise reserved. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4 !== undefined) return blocked.check(v4, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  // Not an IP literal: never treat it as safe.
  return true;
}

/** Raised when a receiver resolves to a refused address; a permanent failure of that delivery. */
export class ForbiddenAddressError extends Error {
  readonly code = 'EFORBIDDENADDRESS';
  constructor(readonly host: string, readonly address: string) {
    super(`receiver ${host} resolves to ${address}, a private or reserved address (set WEBHOOK_ALLOW_PRIVATE=true to allow)`);
    this.name = 'ForbiddenAddressError';
  }
}

/** Resolves a host name to its addresses (injected so tests can answer without a DNS server). */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

/** The system resolver (`getaddrinfo`, honours /etc/hosts). */
export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * Refuses `url` when its host is an IP literal in a refused range (the HTTP client skips DNS lookup for
 * literals, so they are checked here). Throws ForbiddenAddressError.
 */
export function assertLiteralHostAllowed(url: URL): void {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && isPrivateAddress(host)) throw new ForbiddenAddressError(url.hostname, host);
}

/**
 * A DNS lookup for the HTTP client (axios `lookup`) that resolves every address of a host and refuses the host
 * when any of them is in a refused range, so a name that mixes public and private answers cannot be steered to
 * the private one.
 */
export function guardedLookup(resolve: Resolver = systemResolver) {
  return async (hostname: string): Promise<LookupAddress> => {
    const addresses = await resolve(hostname);
    if (addresses.length === 0) throw Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' });
    for (const entry of addresses) {
      if (isPrivateAddress(entry.address)) throw new ForbiddenAddressError(hostname, entry.address);
    }
    const first = addresses[0] as LookupAddress;
    return { address: first.address, family: first.family };
  };
}
