import { describe, expect, it } from 'vitest';
import { createClientIpResolver, normalizeAddress, rateLimitKeyForAddress } from '../../src/security/client-ip.js';

const request = (remoteAddress: string | undefined, forwardedFor?: string | string[]) => ({
  socket: { remoteAddress },
  headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
});

describe('createClientIpResolver', () => {
  it('uses the peer address without trusted proxies', () => {
    const resolve = createClientIpResolver([]);
    expect(resolve(request('192.0.2.1', '203.0.113.9'))).toBe('192.0.2.1');
  });

  it('ignores X-Forwarded-For from an untrusted peer', () => {
    const resolve = createClientIpResolver(['10.0.0.0/8']);
    expect(resolve(request('192.0.2.1', '203.0.113.9'))).toBe('192.0.2.1');
  });

  it('takes the first untrusted hop from the right', () => {
    const resolve = createClientIpResolver(['10.0.0.0/8']);
    // The client wrote 198.51.100.66 itself, and the proxies appended 203.0.113.9 and 10.1.1.1.
    expect(resolve(request('10.0.0.5', '198.51.100.66, 203.0.113.9, 10.1.1.1'))).toBe('203.0.113.9');
  });

  it('joins repeated X-Forwarded-For headers', () => {
    const resolve = createClientIpResolver(['10.0.0.0/8']);
    expect(resolve(request('10.0.0.5', ['198.51.100.66', '203.0.113.9']))).toBe('203.0.113.9');
  });

  it('stops at a malformed hop', () => {
    const resolve = createClientIpResolver(['10.0.0.0/8']);
    expect(resolve(request('10.0.0.5', '203.0.113.9, not-an-address'))).toBe('10.0.0.5');
  });

  it('returns the leftmost hop when every hop is trusted', () => {
    const resolve = createClientIpResolver(['10.0.0.0/8']);
    expect(resolve(request('10.0.0.5', '10.0.0.7, 10.0.0.6'))).toBe('10.0.0.7');
  });

  it('matches IPv6 blocks and IPv4-mapped peers', () => {
    const resolve = createClientIpResolver(['fd00::/8', '127.0.0.1']);
    expect(resolve(request('fd12::1', '2001:db8::5'))).toBe('2001:db8::5');
    expect(resolve(request('::ffff:127.0.0.1', '::ffff:192.0.2.7'))).toBe('192.0.2.7');
  });

  it('names a closed socket unknown', () => {
    expect(createClientIpResolver([])(request(undefined))).toBe('unknown');
  });
});

describe('normalizeAddress', () => {
  it('unwraps IPv4-mapped IPv6 and lowercases', () => {
    expect(normalizeAddress('::FFFF:192.0.2.1')).toBe('192.0.2.1');
    expect(normalizeAddress(' 2001:DB8::1 ')).toBe('2001:db8::1');
  });
});

describe('rateLimitKeyForAddress', () => {
  it('keeps IPv4 addresses whole', () => {
    expect(rateLimitKeyForAddress('192.0.2.1')).toBe('192.0.2.1');
  });

  it('groups IPv6 addresses by /64', () => {
    expect(rateLimitKeyForAddress('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(rateLimitKeyForAddress('2001:0db8:0001:0002:ffff:0:0:1')).toBe('2001:db8:1:2::/64');
    expect(rateLimitKeyForAddress('::1')).toBe('0:0:0:0::/64');
    expect(rateLimitKeyForAddress('2001:db8::')).toBe('2001:db8:0:0::/64');
    expect(rateLimitKeyForAddress('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
    expect(rateLimitKeyForAddress('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});
