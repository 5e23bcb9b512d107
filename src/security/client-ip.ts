import { BlockList, isIP } from 'node:net';

/** The parts of an HTTP request (Node's IncomingMessage fits) that tell where it came from. */
export interface RequestOrigin {
  socket: { remoteAddress?: string | undefined };
  headers: Record<string, string | string[] | undefined>;
}

/** Returns the client's IP address for a request. */
export type ClientIpResolver = (request: RequestOrigin) => string;

/** Used when the socket has already closed and Node no longer has the peer address. */
const UNKNOWN_ADDRESS = 'unknown';

/** Turns `::ffff:192.0.2.1` into `192.0.2.1`, so one IPv4 client has one spelling. */
export function normalizeAddress(address: string): string {
  const trimmed = address.trim();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(trimmed);
  return (mapped?.[1] ?? trimmed).toLowerCase();
}

/** Builds a BlockList from IP addresses and CIDR blocks such as `10.0.0.0/8` or `fd00::/8`. */
export function trustedProxyList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(normalizeAddress(address), family);
    else list.addSubnet(normalizeAddress(address), Number(prefix), family);
  }
  return list;
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

function forwardedHops(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const joined = Array.isArray(header) ? header.join(',') : header;
  return joined
    .split(',')
    .map((hop) => hop.trim())
    .filter(Boolean);
}

/**
 * Creates a resolver that finds the client's IP address. Without trusted proxies it is the socket's peer
 * address. When the peer is a trusted proxy, X-Forwarded-For is read from the right, skipping trusted
 * proxies, and the first address that is not one is the client. Entries left of it were written by the
 * client itself and are never believed. A malformed entry stops the walk at the last address known to
 * be real.
 */
export function createClientIpResolver(trustedProxies: readonly string[]): ClientIpResolver {
  const trusted = trustedProxyList(trustedProxies);
  return (request) => {
    let client = normalizeAddress(request.socket.remoteAddress ?? UNKNOWN_ADDRESS);
    if (trustedProxies.length === 0 || !isTrusted(trusted, client)) return client;

    const hops = forwardedHops(request.headers['x-forwarded-for']);
    for (let index = hops.length - 1; index >= 0; index -= 1) {
      const hop = normalizeAddress(hops[index] as string);
      if (isIP(hop) === 0) return client;
      client = hop;
      if (!isTrusted(trusted, hop)) return client;
    }
    return client;
  };
}

/**
 * Returns the key under which an address is rate limited. IPv6 addresses are grouped by their /64 network,
 * because one subscriber usually gets a whole /64 and could otherwise rotate through its addresses.
 */
export function rateLimitKeyForAddress(address: string): string {
  if (isIP(address) !== 6) return address;
  return `${expandIpv6(address).slice(0, 4).join(':')}::/64`;
}

/** Returns the eight hextets of an IPv6 address, without leading zeros. */
function expandIpv6(address: string): string[] {
  let text = address.split('%')[0] as string;
  // An embedded IPv4 tail such as ::1.2.3.4 is the last two hextets.
  const ipv4Tail = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (ipv4Tail) {
    const [a, b, c, d] = ipv4Tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, ipv4Tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((hextet) => Number.parseInt(hextet, 16).toString(16));
}
