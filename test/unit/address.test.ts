import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { unwrap } from '../../src/errors.js';
import { parseCidr } from '../../src/rules/address.js';

const cidr = (text: string) => {
  const c = unwrap(parseCidr(text));
  return `${c.address}/${c.prefix}`;
};
const error = (text: string) => {
  const r = parseCidr(text);
  return r.ok ? undefined : r.error.message;
};

describe('parseCidr: IPv4', () => {
  it('gives a bare address /32', () => {
    expect(parseCidr('192.0.2.1')).toEqual({ ok: true, value: { family: 4, address: '192.0.2.1', prefix: 32 } });
  });

  it('keeps networks whose host bits are zero', () => {
    expect(cidr('192.0.2.0/24')).toBe('192.0.2.0/24');
    expect(cidr('10.0.0.0/8')).toBe('10.0.0.0/8');
    expect(cidr('0.0.0.0/0')).toBe('0.0.0.0/0');
    expect(cidr('255.255.255.255/32')).toBe('255.255.255.255/32');
    expect(cidr('192.0.2.128/25')).toBe('192.0.2.128/25');
    expect(cidr('192.0.2.0/024')).toBe('192.0.2.0/24');
  });

  it('refuses host bits, suggesting the network', () => {
    expect(error('192.0.2.1/24')).toBe('host bits set in 192.0.2.1/24, did you mean 192.0.2.0/24?');
    expect(error('192.0.2.129/25')).toBe('host bits set in 192.0.2.129/25, did you mean 192.0.2.128/25?');
    expect(error('10.1.0.0/8')).toBe('host bits set in 10.1.0.0/8, did you mean 10.0.0.0/8?');
    expect(error('0.0.0.1/0')).toBe('host bits set in 0.0.0.1/0, did you mean 0.0.0.0/0?');
  });

  it('refuses bad prefixes', () => {
    expect(error('192.0.2.0/33')).toBe('prefix /33 out of range 0-32 for IPv4');
    expect(error('192.0.2.0/')).toBe('"/" is not a prefix length: expected /0 to /32');
    expect(error('192.0.2.0/x')).toBe('"/x" is not a prefix length: expected /0 to /32');
    expect(error('192.0.2.0/-1')).toBe('"/-1" is not a prefix length: expected /0 to /32');
    expect(error('192.0.2.0/24/1')).toBe('"192.0.2.0/24/1" is not an address or network: more than one "/"');
  });

  it('refuses malformed addresses', () => {
    for (const bad of ['192.0.2', '192.0.2.1.5', '192.0.2.256', '192.0.2.', '.192.0.2', '1.2.3.4a', 'example.org', '0x7f.0.0.1', '1234.0.0.1', ' 192.0.2.1'])
      expect(error(bad)).toBe(`"${bad}" is not an IPv4 or IPv6 address`);
    expect(error('')).toBe('missing address');
  });

  it('refuses leading zeros, which some tools read as octal', () => {
    expect(error('010.0.0.1')).toBe('"010.0.0.1" has a leading zero, which some tools read as octal; write 10.0.0.1');
    expect(error('192.0.2.01/32')).toBe('"192.0.2.01" has a leading zero, which some tools read as octal; write 192.0.2.1');
  });
});

describe('parseCidr: IPv6', () => {
  it('gives a bare address /128', () => {
    expect(parseCidr('2001:db8::1')).toEqual({ ok: true, value: { family: 6, address: '2001:db8::1', prefix: 128 } });
  });

  it('writes the RFC 5952 canonical form', () => {
    const cases: [string, string][] = [
      ['2001:DB8::1', '2001:db8::1/128'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1/128'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1/128'], // first of two equal runs
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3/128'], // the longest run, not the first
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1/128'], // a single zero group stays
      ['2001:db8::0:1', '2001:db8::1/128'],
      ['0:0:0:0:0:0:0:0', '::/128'],
      ['::', '::/128'],
      ['::1', '::1/128'],
      ['1::', '1::/128'],
      ['1:2:3:4:5:6::7', '1:2:3:4:5:6:0:7/128'],
      ['0:0:0:0:0:0:0:1', '::1/128'],
      ['1:0:0:0:0:0:0:0', '1::/128'],
      ['FE80::ABCD:0:0:1', 'fe80::abcd:0:0:1/128'],
      ['::/0', '::/0'],
      ['2001:db8::/32', '2001:db8::/32'],
      ['2001:0DB8:0:0:0:0:0:0/32', '2001:db8::/32'],
      ['fe80::/10', 'fe80::/10'],
      ['::1.2.3.4', '::102:304/128'],
      ['64:ff9b::192.0.2.1', '64:ff9b::c000:201/128'],
      ['1:2:3:4:5:6:192.0.2.1', '1:2:3:4:5:6:c000:201/128'],
    ];
    for (const [input, want] of cases) expect(cidr(input), input).toBe(want);
  });

  it('refuses host bits, suggesting the canonical network', () => {
    expect(error('2001:db8::1/32')).toBe('host bits set in 2001:db8::1/32, did you mean 2001:db8::/32?');
    expect(cidr('2001:DB8:8000::/33')).toBe('2001:db8:8000::/33');
    expect(error('2001:DB8:4000::/33')).toBe('host bits set in 2001:DB8:4000::/33, did you mean 2001:db8::/33?');
    expect(error('::1/127')).toBe('host bits set in ::1/127, did you mean ::/127?');
  });

  it('refuses bad prefixes', () => {
    expect(error('2001:db8::/129')).toBe('prefix /129 out of range 0-128 for IPv6');
    expect(error('2001:db8::/')).toBe('"/" is not a prefix length: expected /0 to /128');
  });

  it('refuses IPv4-mapped addresses, naming the IPv4 one', () => {
    expect(error('::ffff:192.0.2.1')).toBe(
      '"::ffff:192.0.2.1" is an IPv4-mapped IPv6 address, which never appears in IPv6 traffic; write 192.0.2.1',
    );
    expect(error('::FFFF:c000:0201')).toBe(
      '"::FFFF:c000:0201" is an IPv4-mapped IPv6 address, which never appears in IPv6 traffic; write 192.0.2.1',
    );
    expect(error('::ffff:192.0.2.0/120')).toBe(
      '"::ffff:192.0.2.0/120" is an IPv4-mapped IPv6 address, which never appears in IPv6 traffic; write 192.0.2.0/24',
    );
    expect(error('::ffff:0:0/96')).toBe(
      '"::ffff:0:0/96" is an IPv4-mapped IPv6 address, which never appears in IPv6 traffic; write 0.0.0.0/0',
    );
    // Networks that only contain the mapped range are ordinary IPv6 networks.
    expect(cidr('::/64')).toBe('::/64');
    expect(cidr('::fffe:0:0/96')).toBe('::fffe:0:0/96');
  });

  it('refuses zone ids', () => {
    expect(error('fe80::1%eth0')).toBe('"fe80::1%eth0" has a zone id ("%eth0"), which a firewall address cannot have');
    expect(error('fe80::%1/64')).toBe('"fe80::%1/64" has a zone id ("%1/64"), which a firewall address cannot have');
  });

  it('refuses malformed addresses', () => {
    for (const bad of [
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7::8',
      '1::2::3',
      ':::',
      ':1::',
      '1::2:',
      '12345::',
      'g::',
      '1.2.3.4::',
      '::1.2.3',
      '::1.2.3.4:5',
      '::01.2.3.4',
      '1:2:3:4:5:6:7:1.2.3.4',
      ':',
    ])
      expect(error(bad), bad).toBe(`"${bad}" is not a valid IPv6 address`);
  });
});

describe('parseCidr agrees with node:net on what an address is', () => {
  // Valid to node but refused on purpose: zone ids and IPv4-mapped addresses (tested above).
  const inputs = [
    '0.0.0.0', '255.255.255.255', '256.0.0.0', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '1.2.3.-4',
    '::', '::1', '1::', '1::1', '::1:2:3:4:5:6:7', '1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9',
    '1::2:3:4:5:6:7:8', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7::8', 'abcd:ef01:2345:6789:ABCD:EF01:2345:6789',
    '::0.0.0.0', '::255.255.255.255', '::256.0.0.0', '1::1.2.3.4', '1.2.3.4::', 'fffff::', '::ffff1',
    ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', '1:::2', '::1::', '0000:0000:0000:0000:0000:0000:0000:0000',
  ];
  it.each(inputs)('%s', (text) => {
    expect(parseCidr(text).ok).toBe(isIP(text) !== 0);
  });
});
