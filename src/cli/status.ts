import { existsSync } from 'node:fs';
import { linkExists } from '../apply/bridgePort.js';
import { readBrNetfilter } from '../apply/brNetfilter.js';
import { run } from '../apply/exec.js';
import { readBridgeListing } from '../apply/netfilter.js';
import { listRecords, type VifRecord } from '../apply/records.js';
import { readGuestRules } from '../read/domainConfig.js';
import { installedOf } from '../read/recorded.js';
import { readSettings, type Settings } from '../read/settings.js';
import { type Observed, type RecordedVif, type StatusReport, formatStatus, judgeStatus, statusExitCode, statusJson } from '../report/status.js';
import { type Command, EXIT, describeError } from './command.js';
import { writeJson } from './json.js';

/** Reads everything status judges: both filter tables with counters, the bridge table, the sysctls, the records and their configs. */
export async function observe(settings: Settings): Promise<Observed> {
  const [save4, save6, bridge, records] = await Promise.all([
    run('iptables-save', ['-c', '-t', 'filter']),
    run('ip6tables-save', ['-c', '-t', 'filter']),
    readBridgeListing(),
    listRecords(settings.stateDir),
  ]);
  return {
    saves: { 4: save4.stdout, 6: save6.stdout },
    bridge,
    brNetfilter: readBrNetfilter(),
    vifs: await Promise.all(records.map((r) => recorded(r, settings))),
    linkExists,
    options: { acceptAllowed: settings.acceptAllowed },
  };
}

async function recorded(record: VifRecord, settings: Settings): Promise<RecordedVif> {
  const [installed, config] = await Promise.all([
    installedOf(record, settings).catch((e: unknown) => ({ error: `what was installed cannot be rebuilt from its record: ${describeError(e)}` })),
    (async () => {
      if (!existsSync(record.configFile)) return { error: `${record.configFile} is gone` };
      try {
        const guest = await readGuestRules(record.configFile, record.devid, settings);
        return { lines: guest.lines.map((l) => l.value), antispoof: guest.antispoof ?? settings.antispoof };
      } catch (e) {
        return { error: describeError(e) };
      }
    })(),
  ]);
  return { record, installed, config };
}

/** The report narrowed to one domain, vif or device; undefined when nothing matches. */
function narrow(report: StatusReport, filter: string): StatusReport | undefined {
  const hit = (x: { dev: string; vif: string | null; domain: string | null }) => x.dev === filter || x.vif === filter || x.domain === filter;
  const vifs = report.vifs.filter(hit);
  const orphans = report.orphans.filter(hit);
  return vifs.length || orphans.length ? { ...report, vifs, orphans } : undefined;
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'status [<domain | vif>] [-v] [--json]: is every guest filtered as its config says? (exit 0 yes, 1 no)',
  help: `usage: vif-firewall status [<domain | vif>] [-v | --verbose] [--json]

Holds the kernel to what online installed and the configs to what online read. First line:
the vifs by state and whether the firewall is in force; then one line per vif (domain, vif,
bridge, state, rules, packets dropped since online); then what differs, in rule words.

Checked host-wide: the jumps from the built-in chains into ours, every dispatch rule, the
skeleton chains (both families), net.bridge.bridge-nf-call-iptables and -ip6tables, and the
nft table bridge vif-fw with its base chain. Per vif: its chains, rule for rule, its entry in
the bridge table's map and its chain of checks (counted), and its config against the rules
installed.

states: ok; drift (the config changed: reload); config-error (the config is gone or has an
error; the installed rules stay); modified (the kernel differs from what was installed:
repair); missing (its chains are gone: repair); bypassed (its chains are whole but the path to
them is not: repair); unrecorded (chains of a live device online did not record)

  -v, --verbose  each rule as the config line it came from, with its packet and byte counters,
                 and the warnings online logged
  --json         the same as data: { "version": 1, "inForce", "exitCode", "message", "host",
                 "vifs", "orphans" }

exit: 0 every vif ok and the firewall in force; 1 anything else (orphans alone do not count);
      2 bad usage, or no managed vif matches the name given`,
  booleans: ['json', 'v'],
  positional: { min: 0, max: 1, what: 'at most one domain or vif' },
  async run(args) {
    const filter = args._[0] === undefined ? undefined : String(args._[0]);
    const settings = await readSettings(process.env);
    const whole = judgeStatus(await observe(settings));
    const report = filter ? narrow(whole, filter) : whole;
    if (!report) {
      process.stderr.write(`vif-firewall status: no managed vif matches "${filter}" (a domain name, vifD.N or device name)\n`);
      return EXIT.usage;
    }
    if (args.json) writeJson(statusJson(report));
    else process.stdout.write(`${formatStatus(report, args.v === true || args.verbose === true)}\n`);
    return statusExitCode(report);
  },
};
