import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileAntispoof } from '../../src/compile/antispoof.js';
import { bridgeInstallTransaction } from '../../src/compile/bridge.js';
import { compileVifChains } from '../../src/compile/chains.js';
import { parseInstalled } from '../../src/compile/installed.js';
import { installTransaction } from '../../src/compile/transaction.js';
import { unwrap } from '../../src/errors.js';
import { parseIfName } from '../../src/ifname.js';
import { antispoofSpec } from '../../src/read/antispoof.js';
import { guestRulesOf } from '../../src/read/domainConfig.js';

/**
 * The whole pure path of one `online`: the config text of the README's example →
 * the exact restore text for each family, on a table that holds nothing of ours yet.
 * The golden files are reviewed by hand; a change to them is a change of behaviour.
 */
describe('george.cfg → restore text', () => {
  const file = 'test/fixtures/xl/george.cfg';
  const guest = guestRulesOf(readFileSync(file, 'utf8'), file, 0);
  const empty = parseInstalled('*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n');
  const dev = unwrap(parseIfName('vif2.0'));

  for (const family of [4, 6] as const) {
    it(`IPv${family}`, async () => {
      const addresses = antispoofSpec('full', guest.mac, guest.ip, 'george.cfg vif 0').ip ?? [];
      const path = { dev, bridge: guest.bridge ?? 'xenbr0', addresses };
      const text = installTransaction(empty, path, family, compileVifChains(guest.ruleSet, family, { dev, domain: 'george' }), { acceptAllowed: true });
      await expect(text).toMatchFileSnapshot(`../golden/george.v${family}.restore`);
    });
  }

  it('anti-spoofing (nft bridge table), for the mac= and ip= of its vif spec', async () => {
    const spec = antispoofSpec('full', guest.mac, guest.ip, 'george.cfg vif 0');
    const text = bridgeInstallTransaction(dev, compileAntispoof(spec, guest.ruleSet));
    await expect(text).toMatchFileSnapshot('../golden/george.bridge.nft');
  });

  it('uses firewall_vifN for device N and firewall for the others', () => {
    const text = 'firewall = [ "allow in tcp 22" ]\nfirewall_vif1 = [ "allow in tcp 80" ]\n';
    expect(guestRulesOf(text, 'x.cfg', 0).key).toBe('firewall');
    expect(guestRulesOf(text, 'x.cfg', 1).key).toBe('firewall_vif1');
    expect(guestRulesOf(text, 'x.cfg', 1).ruleSet.rules[0]!.text).toBe('allow in tcp 80');
  });

  it('falls back to the default policies, with a warning, when there is no firewall key', () => {
    const g = guestRulesOf('name = "x"\n', 'x.cfg', 0);
    expect(g.ruleSet.rules).toEqual([]);
    expect(g.ruleSet.policy).toEqual({ in: 'drop', out: 'accept' });
    expect(g.warnings[0]).toMatch(/x\.cfg has no firewall key/);
  });

  it('names file, line and column of a bad rule', () => {
    const text = 'name = "x"\nfirewall = [\n  "allow in tcp 22",\n  "allow in tcp 70000",\n]\n';
    expect(() => guestRulesOf(text, '/etc/xen/x.cfg', 0)).toThrow(/70000/);
    try {
      guestRulesOf(text, '/etc/xen/x.cfg', 0);
    } catch (e) {
      expect((e as { describe(): string }).describe()).toMatch(/^\/etc\/xen\/x\.cfg:4:17: /);
    }
  });
});
