import { describe, expect, it } from 'vitest';
import { compileAntispoof, antispoofWarning } from '../../src/compile/antispoof.js';
import { bridgeBaseIntact, bridgeInstallTransaction, bridgeNewDevicesTransaction, bridgeQuickRemoveTransaction, bridgeRemoveTransaction, parseBridgeInstalled } from '../../src/compile/bridge.js';
import { compileVifChains } from '../../src/compile/chains.js';
import { unwrap } from '../../src/errors.js';
import { parseIfName } from '../../src/ifname.js';
import { antispoofSpec } from '../../src/read/antispoof.js';
import { guestRulesOf } from '../../src/read/domainConfig.js';
import { parseSettings } from '../../src/read/settings.js';
import { eui64LinkLocal, parseMac } from '../../src/rules/mac.js';
import { parseRuleSet } from '../../src/rules/parse.js';

const dev = (name: string) => unwrap(parseIfName(name));
const rules = (...lines: string[]) => unwrap(parseRuleSet(lines.map((value, i) => ({ value, at: { file: 'g.cfg', line: i + 1, col: 1 } }))));
const MAC = '00:16:3e:00:00:02';
const spec = (level: 'full' | 'mac' | 'off', ip?: string) => antispoofSpec(level, MAC, ip, 'xenstore backend/vif/2/0');

describe('parseMac and the link-local address', () => {
  it('takes six hex pairs in any case, and refuses the rest', () => {
    expect(unwrap(parseMac('00:16:3E:0a:00:02'))).toBe('00:16:3e:0a:00:02');
    expect(parseMac('00:16:3e:00:02').ok).toBe(false);
    expect(parseMac('00-16-3e-00-00-02').ok).toBe(false);
    expect(parseMac('01:00:5e:00:00:01').ok).toBe(false); // multicast
  });

  it('forms the modified EUI-64 link-local address', () => {
    expect(eui64LinkLocal(unwrap(parseMac('00:16:3e:00:02:00')))).toBe('fe80::216:3eff:fe00:200');
    expect(eui64LinkLocal(unwrap(parseMac('02:ab:cd:ef:01:23')))).toBe('fe80::ab:cdff:feef:123');
  });
});

describe('compileAntispoof', () => {
  it('off: nothing; mac: the MAC of frames and of ARP', () => {
    expect(compileAntispoof(spec('off', '192.0.2.10'), rules())).toEqual([]);
    expect(compileAntispoof(spec('mac', '192.0.2.10'), rules())).toEqual([`ether saddr != ${MAC} drop`, `arp saddr ether != ${MAC} drop`]);
  });

  it('full without ip=: MAC, other protocols and rogue infrastructure, no address checks', () => {
    const body = compileAntispoof(spec('full'), rules());
    expect(body).toContain('icmpv6 type nd-router-advert drop');
    expect(body.some((r) => /saddr (ip )?!=/.test(r) && !r.includes('ether'))).toBe(false);
  });

  it('full with ip=: the addresses of both families, 0.0.0.0 for DHCP and ARP probes, the link-local address', () => {
    const body = compileAntispoof(spec('full', '192.0.2.10 198.51.100.0/24 2001:db8::a'), rules());
    expect(body).toContain('arp saddr ip != { 0.0.0.0, 192.0.2.10, 198.51.100.0/24 } drop');
    expect(body).toContain('ip saddr != { 192.0.2.10, 198.51.100.0/24 } drop');
    expect(body).toContain('ip6 saddr != { fe80::216:3eff:fe00:2, 2001:db8::a } drop');
    expect(body.indexOf('ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return')).toBeLessThan(
      body.indexOf('ip saddr != { 192.0.2.10, 198.51.100.0/24 } drop'),
    );
  });

  it('neighbour advertisements only for its IPv6 addresses, as raw 128-bit values (nft 1.0.6 has no taddr)', () => {
    expect(compileAntispoof(spec('full', '2001:db8:1::/64'), rules())).toContain(
      'icmpv6 type nd-neighbor-advert @th,64,128 != { 0xfe8000000000000002163efffe000002, 0x20010db8000100000000000000000000-0x20010db800010000ffffffffffffffff } drop',
    );
  });

  it('an ip= with only IPv6 entries lets no IPv4 source but 0.0.0.0 out', () => {
    const body = compileAntispoof(spec('full', '2001:db8::a'), rules());
    expect(body).toContain('meta protocol ip drop');
    expect(body).toContain('arp saddr ip != { 0.0.0.0 } drop');
  });

  it('lifts the block of the infrastructure an allow out rule names, and only that', () => {
    const body = compileAntispoof(spec('full'), rules('allow out dhcp-server', 'allow out router to 2001:db8::/64'));
    expect(body.join('\n')).not.toMatch(/sport 67 drop|nd-router-advert/);
    expect(body).toContain('meta protocol ip6 meta l4proto udp udp sport 547 drop');
    // drop, or the other direction, lifts nothing
    expect(compileAntispoof(spec('full'), rules('drop out dhcp-server', 'allow in router')).join('\n')).toMatch(/sport 67 drop[^]*nd-router-advert/);
  });

  it('dhcp-server compiles to its source and destination port in the out chain', () => {
    expect(compileVifChains(rules('allow out dhcp-server'), 4, { dev: dev('vif2.0'), domain: 'g' }).out).toContain(
      '-p udp -m udp --sport 67 --dport 68 -j RETURN',
    );
  });

  it('warns when IP anti-spoofing is off, and says how to turn it on', () => {
    expect(antispoofWarning(spec('full'), 'vif2.0')).toMatch(/IP anti-spoofing is off for this vif.*ip=/);
    expect(antispoofWarning(spec('off', '192.0.2.10'), 'vif2.0')).toMatch(/anti-spoofing is off/);
    expect(antispoofWarning(spec('full', '192.0.2.10 2001:db8::a'), 'vif2.0')).toBeUndefined();
    expect(antispoofWarning(spec('full', '192.0.2.10'), 'vif2.0')).toMatch(/ip= lists no IPv6 address: the guest may send IPv6 only from its link-local address/);
  });
});

describe('antispoofSpec', () => {
  it('refuses an unreadable mac or ip, naming the key', () => {
    expect(() => antispoofSpec('full', 'nonsense', undefined, 'xenstore be')).toThrow(/^xenstore be\/mac: "nonsense" is not a MAC/);
    expect(() => antispoofSpec('full', MAC, '192.0.2.10 host.example', 'xenstore be')).toThrow(/^xenstore be\/ip: /);
    expect(() => antispoofSpec('full', undefined, undefined, 'xenstore be')).toThrow(/mac is not set/);
  });
});

describe('the level keys', () => {
  it('firewall_antispoof in a domain config, with file:line:col for a bad value', () => {
    expect(guestRulesOf('firewall_antispoof = "MAC"\n', 'g.cfg', 0).antispoof).toBe('mac');
    expect(guestRulesOf('name = "g"\n', 'g.cfg', 0).antispoof).toBeUndefined();
    try {
      guestRulesOf('name = "g"\nfirewall_antispoof = "strict"\n', 'g.cfg', 0);
      expect.unreachable();
    } catch (e) {
      expect((e as { describe(): string }).describe()).toBe('g.cfg:2:22: firewall_antispoof must be one of "full", "mac", "off", not "strict"');
    }
  });

  it('antispoof in the settings, default full', () => {
    expect(parseSettings('', 's.conf').antispoof).toBe('full');
    expect(parseSettings('antispoof = "off"\n', 's.conf').antispoof).toBe('off');
    expect(() => parseSettings('antispoof = 1\n', 's.conf')).toThrow(/antispoof must be one of "full", "mac", "off", not "1"/);
  });
});

describe('bridge transactions', () => {
  const LISTING = `table bridge vif-fw {
	map vifs {
		type ifname : verdict
		elements = { "vif2.0" : jump vif-fw-vif2.0,
			     "vif3.0" : jump vif-fw-vif3.0 }
	}

	chain prerouting {
		type filter hook prerouting priority filter; policy accept;
		iifname vmap @vifs
	}

	chain vif-fw-vif2.0 {
		ether saddr != 00:16:3e:00:02:00 drop
	}

	chain vif-fw-vif3.0 {
		ether saddr != 00:16:3e:00:03:00 drop
	}
}
`;
  const two = parseBridgeInstalled(LISTING);

  it('reads the devices of the table', () => {
    expect([...two.chains].sort()).toEqual(['vif2.0', 'vif3.0']);
    expect([...two.elements].sort()).toEqual(['vif2.0', 'vif3.0']);
    expect(parseBridgeInstalled(undefined).exists).toBe(false);
  });

  it('removes one device, and the whole table with the last', () => {
    expect(bridgeRemoveTransaction(two, [dev('vif3.0')])).toBe(
      'delete element bridge vif-fw vifs { "vif3.0" }\nflush chain bridge vif-fw vif-fw-vif3.0\ndelete chain bridge vif-fw vif-fw-vif3.0\n',
    );
    expect(bridgeRemoveTransaction(two, [dev('vif2.0'), dev('vif3.0')])).toBe('delete table bridge vif-fw\n');
    expect(bridgeRemoveTransaction(two, [dev('vif9.0')])).toBeUndefined();
    expect(bridgeQuickRemoveTransaction(dev('vif3.0'))).toBe(bridgeRemoveTransaction(two, [dev('vif3.0')]));
  });

  it('level off has nothing to install (the caller removes what an earlier online installed)', () => {
    expect(bridgeInstallTransaction(dev('vif3.0'), [])).toBeUndefined();
  });
});

describe('the bridge table base chain', () => {
  const listing = (body: string) => `table bridge vif-fw {\n\tchain prerouting {\n${body}\t}\n}\n`;
  const intact = '\t\ttype filter hook prerouting priority filter; policy accept;\n\t\tiifname vmap @vifs\n';

  it('is left alone when it is exactly ours, rewritten otherwise', () => {
    expect(bridgeBaseIntact(listing(intact))).toBe(true);
    expect(bridgeBaseIntact(undefined)).toBe(false);
    expect(bridgeBaseIntact(listing('\t\ttype filter hook prerouting priority filter; policy accept;\n'))).toBe(false);
    expect(bridgeBaseIntact(listing(`${intact}\t\tiifname vmap @vifs\n`))).toBe(false);
    expect(bridgeBaseIntact(listing(intact.replace('accept', 'drop')))).toBe(false);
  });

  it('an install declares the table and rewrites the base chain, or creates new devices alone', () => {
    const d = dev('vif3.0');
    expect(bridgeInstallTransaction(d, ['drop'])).toContain('add table bridge vif-fw\n');
    expect(bridgeInstallTransaction(d, ['drop'])).toContain('flush chain bridge vif-fw prerouting\nadd rule bridge vif-fw prerouting iifname vmap @vifs\n');
    expect(bridgeNewDevicesTransaction([{ dev: d, body: ['drop'] }, { dev: dev('vif4.0'), body: ['accept'] }])).toBe(
      'create chain bridge vif-fw vif-fw-vif3.0\nadd rule bridge vif-fw vif-fw-vif3.0 drop\nadd element bridge vif-fw vifs { "vif3.0" : jump vif-fw-vif3.0 }\n' +
        'create chain bridge vif-fw vif-fw-vif4.0\nadd rule bridge vif-fw vif-fw-vif4.0 accept\nadd element bridge vif-fw vifs { "vif4.0" : jump vif-fw-vif4.0 }\n',
    );
    // A broken base chain is rewritten by the same commit, as a single install does.
    const repaired = bridgeNewDevicesTransaction([{ dev: d, body: ['drop'] }], true);
    expect(repaired).toBe(bridgeInstallTransaction(d, ['drop'])!.replace('add chain bridge vif-fw vif-fw-vif3.0\nflush chain bridge vif-fw vif-fw-vif3.0\n', 'create chain bridge vif-fw vif-fw-vif3.0\n'));
  });
});
