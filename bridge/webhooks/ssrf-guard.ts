/**
 * Keeps outbound event webhooks off internal networks: receiver addresses on loopback, private, link-local,
 * CGNAT, multicast or reserved ranges are refused unless explicitly allowed. The check runs inside the HTTP
 * client's DNS lookup, so the address that is checked is the address that is connected to (no DNS rebinding
 * between a check and the request).
 */
import { isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import ipaddr from 'ipaddr.js';

/**
 * IPv6 prefixes whose low 32 bits carry an IPv4 address that a gateway or the kernel connects to, so that
 * address decides: IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (RFC 6052 `64:ff9b::/96`, RFC 8215 `64:ff9b:1::/48`)
 * and the deprecated IPv4-compatible form (`::a.b.c.d`, which ipaddr.js counts as unicast).
 */
const embedsIpv4: [ipaddr.IPv6, number][] = [
  ipaddr.IPv6.parseCIDR('::ffff:0:0/96'),
  ipaddr.IPv6.parseCIDR('64:ff9b::/96'),
  ipaddr.IPv6.parseCIDR('64:ff9b:1::/48'),
  ipaddr.IPv6.parseCIDR('::/96'),
];

/** True when `address` (an IP literal) is loopback, private, link-local, CGNAT, multicast or otherwise reserved. */
export function isPrivateAddress(address: string): boolean {
  // Not an IP literal: never treat it as safe.
  if (!isIP(address)) return true;
  const ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6') {
    const v6 = ip as ipaddr.IPv6;
    if (embedsIpv4.some((range) => v6.match(range))) {
      const [, , , , , , hi = 0, lo = 0] = v6.parts;
      if (hi === 0 && lo <= 1) return true; // `::` and `::1` themselves
      return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]).range() !== 'unicast';
    }
  }
  // ipaddr.js names every special-purpose range (RFC 6890 and successors); only plain unicast is a public receiver.
  return ip.range() !== 'unicast';
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

/** The guard's refusal inside an HTTP client error (thrown from the lookup and wrapped on the way), if it is one. */
export function findForbidden(error: unknown): ForbiddenAddressError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (current instanceof ForbiddenAddressError) return current;
    if ((current as { code?: unknown }).code === 'EFORBIDDENADDRESS') return current as ForbiddenAddressError;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
