import { describe, expect, it } from 'vitest';
import { HookError, errorsOf } from '../../src/errors.js';
import { guestRulesOf } from '../../src/read/domainConfig.js';
import { parseSettings } from '../../src/read/settings.js';
import { describeRuleSet } from '../../src/report/describe.js';
import { describeOrigin } from '../../src/report/origin.js';

const CONF = '/etc/xen/vif-firewall.conf';
const SETTINGS = `group_web = [ "allow in tcp 80", "allow in tcp 443" ]
group_base = [ "allow in ping", "use web" ]
group_admins = [ "allow in tcp 22 from 198.51.100.0/24" ]
firewall_default = [ "use admins", "drop out tcp 25" ]
`;
const settings = parseSettings(SETTINGS, CONF);

const rulesOf = (guest: string, devid = 0, s = settings) => guestRulesOf(guest, '/etc/xen/web.cfg', devid, s).ruleSet.rules;
const texts = (guest: string, devid = 0) => rulesOf(guest, devid).map((r) => r.text);

function errorsIn(guest: string, s = settings): string[] {
  try {
    guestRulesOf(guest, '/etc/xen/web.cfg', 0, s);
  } catch (e) {
    return errorsOf(e as HookError).map((x) => x.describe());
  }
  throw new Error('expected an error');
}

describe('groups', () => {
  it('expand in place, in firewall and firewall_vifN, at any position, after the host defaults', () => {
    const guest = 'firewall = [ "allow in tcp 8080", "use web", "drop in udp" ]\nfirewall_vif1 = [ "use web" ]\n';
    const defaults = ['allow in tcp 22 from 198.51.100.0/24', 'drop out tcp 25'];
    expect(texts(guest)).toEqual([...defaults, 'allow in tcp 8080', 'allow in tcp 80', 'allow in tcp 443', 'drop in udp']);
    expect(texts(guest, 1)).toEqual([...defaults, 'allow in tcp 80', 'allow in tcp 443']);
  });

  it('nest, and each rule says where it came from', () => {
    const rules = rulesOf('firewall = [\n  "allow in tcp 8080",\n  "use base",\n]\n');
    expect(rules.map(describeOrigin)).toEqual([
      'vif-firewall.conf:4 (firewall_default) via group admins (vif-firewall.conf:3)',
      'vif-firewall.conf:4 (firewall_default)',
      'web.cfg:2',
      'web.cfg:3 via group base (vif-firewall.conf:2)',
      'web.cfg:3 via group base (vif-firewall.conf:2) via group web (vif-firewall.conf:1)',
      'web.cfg:3 via group base (vif-firewall.conf:2) via group web (vif-firewall.conf:1)',
    ]);
    const web = rules[4]!;
    expect(web.at).toEqual({ file: CONF, line: 1, col: 16 });
    expect(web.origin).toEqual({
      hostDefault: false,
      via: [
        { group: 'base', at: { file: '/etc/xen/web.cfg', line: 3, col: 8 } },
        { group: 'web', at: { file: CONF, line: 2, col: 38 } },
      ],
    });
    expect(describeRuleSet({ rules: [web], policy: { in: 'drop', out: 'accept' }, log: { in: false, out: false } })[0]).toBe(
      'web.cfg:3 via group base (vif-firewall.conf:2) via group web (vif-firewall.conf:1): allow traffic to the guest, TCP to port 80 (IPv4 and IPv6)   [allow in tcp 80]',
    );
  });

  it('refuse a cycle, naming it, at the use that closes it', () => {
    const cyclic = parseSettings('group_a = [ "use b" ]\ngroup_b = [ "allow in tcp 1", "use c" ]\ngroup_c = [ "use a" ]\n', CONF);
    expect(errorsIn('firewall = [ "use a" ]\n', cyclic)).toEqual([`${CONF}:3:18: group cycle: a → b → c → a`]);
    const self = parseSettings('group_me = [ "use me" ]\n', CONF);
    expect(errorsIn('firewall = [ "use me" ]\n', self)).toEqual([`${CONF}:1:19: group cycle: me → me`]);
  });

  it('name an unknown group with a suggestion only when one is close, and a malformed use', () => {
    expect(errorsIn('firewall = [ "use wbe", "use nothing_like_it", "use", "use web base" ]\n')).toEqual([
      `/etc/xen/web.cfg:1:19: unknown group "wbe" (did you mean web?): groups are defined in ${CONF} as group_NAME = [ "…" ]`,
      `/etc/xen/web.cfg:1:30: unknown group "nothing_like_it": groups are defined in ${CONF} as group_NAME = [ "…" ]`,
      '/etc/xen/web.cfg:1:52: expected a group name after "use"',
      '/etc/xen/web.cfg:1:64: unexpected "base" after "use web": one group per use',
    ]);
  });

  it('hold rules only, and report an error inside a group where the group defines it', () => {
    const s = parseSettings('group_bad = [ "policy in accept", "allow in tcp 99999" ]\n', CONF);
    expect(errorsIn('firewall = [ "use bad", "allow sideways" ]\n', s)).toEqual([
      `/etc/xen/web.cfg:1:32: expected in or out after "allow", got "sideways"`,
      `${CONF}:1:16: policy belongs in the guest's own config: a group or firewall_default holds rules only`,
      `${CONF}:1:49: port 99999 out of range 1-65535`,
    ]);
  });

  it('reports a group used twice with an error once', () => {
    const s = parseSettings('group_bad = [ "allow in tcp 0" ]\n', CONF);
    expect(errorsIn('firewall = [ "use bad", "use bad" ]\n', s)).toEqual([`${CONF}:1:29: port 0 out of range 1-65535`]);
  });
});

describe('firewall_default', () => {
  it('goes before every vif\'s rules, also of a guest without a firewall key', () => {
    expect(texts('name = "x"\n')).toEqual(['allow in tcp 22 from 198.51.100.0/24', 'drop out tcp 25']);
    expect(rulesOf('name = "x"\n').every((r) => r.origin?.hostDefault)).toBe(true);
  });

  it('is left out by a guest with firewall_default = "off"; "on" is the default', () => {
    expect(texts('firewall_default = "off"\nfirewall = [ "use web" ]\n')).toEqual(['allow in tcp 80', 'allow in tcp 443']);
    expect(texts('firewall_default = "on"\nfirewall = [ "allow in tcp 1" ]\n')).toHaveLength(3);
    expect(errorsIn('firewall_default = "no"\n')).toEqual([
      `/etc/xen/web.cfg:1:20: firewall_default in a guest's config takes "off" (or "on"), not "no": the defaults themselves are set in the hook's settings`,
    ]);
  });

  it('is a settings key, as are group_NAME keys; other keys are still refused', () => {
    expect([...settings.shared.groups.keys()]).toEqual(['web', 'base', 'admins']);
    expect(settings.shared.defaults.map((l) => l.value)).toEqual(['use admins', 'drop out tcp 25']);
    expect(() => parseSettings('groups = [ "x" ]\n', CONF)).toThrow(/unknown setting "groups"/);
  });
});
