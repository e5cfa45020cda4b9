import { compileFirewall } from '../compile/chains.js';
import { parseInstalled, type Installed } from '../compile/installed.js';
import { installTransaction, uncoveredPaths } from '../compile/transaction.js';
import { antispoofWarning, compileAntispoof } from '../compile/antispoof.js';
import { bridgeInstallTransaction } from '../compile/bridge.js';
import { MAC_STAND_IN, antispoofSpec } from '../read/antispoof.js';
import { readInstalled } from '../apply/netfilter.js';
import { unwrap } from '../errors.js';
import { parseIfName } from '../ifname.js';
import { locateTarget, readGuestRules, requireVif } from '../read/domainConfig.js';
import { readSettings } from '../read/settings.js';
import { describeRuleSet } from '../report/describe.js';
import { originData } from '../report/origin.js';
import { type Command, EXIT, UsageError } from './command.js';
import { writeJson } from './json.js';

const EMPTY = parseInstalled('');

export const showCommand: Command = {
  name: 'show',
  summary: 'show <domain | config-file> [--vif N] [--dev NAME] [--json]: the rules in plain words and the restore text',
  help: `usage: vif-firewall show <domain-name | config-file> [--vif N] [--dev NAME] [--json]

Parses the domain's config (found by name in config_dirs, or the file given) and prints
the rule set of vif N (default 0: firewall_vifN, else firewall) in plain words, then the
iptables-restore and ip6tables-restore text that online would apply (for device vifD.N,
D standing for the domain id, unless --dev or vifname= names it). As root the text
is computed against what the kernel holds now, as online would; otherwise against an empty
table. Then the nft text of the anti-spoofing checks, for the mac= and ip= of the vif spec
(online takes them from xenstore, where xl puts them). Needs no root and changes nothing.

  --vif N      the vif's index in the vif list (its devid); one the config has neither
               in its vif list nor as a firewall_vifN key is an error
  --dev NAME   the device name to show the chains for (default: vifname= of that vif,
               else vifD.N, D standing for the domain id the guest will get)
  --json       the same as data

The first line names the config used and how it was found: a file given as it is (a
name containing / or naming an existing file), else by the domain's name in config_dirs.

exit: 0 shown, 1 the config cannot be found, has an error (file:line:col: message) or has
no vif N, 2 bad usage`,
  booleans: ['json'],
  strings: ['vif', 'dev'],
  positional: { min: 1, max: 1, what: 'one domain or config file' },
  async run(args) {
    const target = String(args._[0]);
    const devid = args.vif === undefined ? 0 : Number(args.vif);
    if (!/^\d+$/.test(String(args.vif ?? 0)) || !Number.isSafeInteger(devid)) throw new UsageError(`--vif takes a vif index (0, 1, …), not "${args.vif}"`);
    const settings = await readSettings(process.env);
    const { file, how } = await locateTarget(target, settings.configDirs);
    const guest = await readGuestRules(file, devid, settings);
    if (args.vif !== undefined) requireVif(guest, devid, file);
    const dev = unwrap(parseIfName(args.dev ?? guest.vifname ?? `vifD.${devid}`));
    const domain = guest.domain ?? target;
    const bodies = compileFirewall(guest.ruleSet, { dev, domain });
    const kernel = await Promise.all([readInstalled(4), readInstalled(6)]).catch(() => undefined);
    const against: [Installed, Installed] = kernel ?? [EMPTY, EMPTY];
    const level = guest.antispoof ?? settings.antispoof;
    // A vif spec without mac= gets one from xl at start: show the checks for a stand-in, and say so.
    const antispoof = antispoofSpec(level, guest.mac ?? MAC_STAND_IN, guest.ip, `${file}: vif ${devid}`);
    // libxl's own default when the vif spec names no bridge.
    const path = { dev, bridge: guest.bridge ?? 'xenbr0', addresses: antispoof.ip ?? [] };
    const restore = {
      ipv4: installTransaction(against[0], path, 4, bodies[4], { acceptAllowed: settings.acceptAllowed }),
      ipv6: installTransaction(against[1], path, 6, bodies[6], { acceptAllowed: settings.acceptAllowed }),
      bridge: bridgeInstallTransaction(dev, compileAntispoof(antispoof, guest.ruleSet)) ?? '',
    };
    const warnings = [
      ...guest.warnings,
      ...[antispoofWarning(antispoof, dev), uncoveredPaths(path), guest.mac || level === 'off' ? undefined : `vif ${devid} has no mac=: xl picks one at start; the checks below show ${MAC_STAND_IN} in its place`].filter(
        (w): w is string => w !== undefined,
      ),
    ];
    const basis = kernel ? 'the tables as the kernel holds them now' : 'empty tables (run as root to compare with the kernel)';
    if (args.json) {
      const rules = guest.ruleSet.rules.map((r) => ({ line: r.at.line, col: r.at.col, origin: originData(r), text: r.text, action: r.action, direction: r.direction, matches: r.matches, from: r.from, to: r.to }));
      writeJson({ file, found: how, key: guest.key ?? null, domain, device: dev, devid, antispoof: level, warnings, rules, policy: guest.ruleSet.policy, log: guest.ruleSet.log, basis, restore });
      return EXIT.ok;
    }
    const out = [
      `domain config ${file}: ${how}`,
      `${file}: ${guest.key ? `${guest.key}, ${guest.ruleSet.rules.length} rules` : `no firewall key: ${guest.ruleSet.rules.length} host default rules, default policies`} for vif ${devid} (device ${dev})`,
      ...warnings.map((w) => `warning: ${w}`),
      '',
      ...describeRuleSet(guest.ruleSet).map((l) => `  ${l}`),
      '',
      `iptables-restore --noflush, against ${basis}:`,
      restore.ipv4,
      `ip6tables-restore --noflush, against ${basis}:`,
      restore.ipv6,
      `nft -f (anti-spoofing, level ${level}, for the vif spec's mac= and ip=):`,
      restore.bridge || '(nothing: level off)',
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    return EXIT.ok;
  },
};
