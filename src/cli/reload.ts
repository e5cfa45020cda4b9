import { existsSync } from 'node:fs';
import { cutFlows, listTrackedFlows } from '../apply/conntrack.js';
import { installFirewall, takeTurn } from '../apply/firewall.js';
import { listRecords, writeRecord, type VifRecord } from '../apply/records.js';
import { compileVifFirewall } from '../compile/firewall.js';
import { antispoofSpec } from '../read/antispoof.js';
import type { Settings } from '../read/settings.js';
import { flowsToCut } from '../compile/cut.js';
import { recordedPath } from '../compile/transaction.js';
import { HookError } from '../errors.js';
import { locking } from '../hotplug/context.js';
import { locateDomainConfig, readGuestRules } from '../read/domainConfig.js';
import { readSettings } from '../read/settings.js';
import { HookLog } from '../report/log.js';
import { parseCidr } from '../rules/address.js';
import type { Cidr } from '../rules/model.js';
import { effects } from '../apply/effects.js';
import { type Command, EXIT, UsageError } from './command.js';

export const reloadCommand: Command = {
  name: 'reload',
  summary: "reload <domain | vif | --all> [--dry-run]: replace a running guest's rules atomically",
  help: `usage: vif-firewall reload <domain | vif | --all> [--dry-run]

Re-reads the config of running guests and replaces their rules, one transaction per
family and device: there is no instant where a vif is unfiltered or filtered twice.
Connections the new rules still allow go on; established connections they no longer
allow are cut (their conntrack entries deleted), for the addresses of the vif's ip=.
Every config is read and checked first: if one has an error, nothing is changed.

  --all       every vif online recorded
  --dry-run   print what would be done, change nothing

exit: 0 reloaded, 1 failed (nothing changed when a config has an error)`,
  booleans: ['all', 'dry-run'],
  async run(args) {
    const target = args._[0] === undefined ? undefined : String(args._[0]);
    if (!target === !args.all) throw new UsageError('name one domain or vif, or give --all');
    const settings = await readSettings(process.env);
    const records = (await listRecords(settings.stateDir)).filter((r) => args.all || r.vif === target || r.dev === target || r.domain === target);
    if (records.length === 0) throw new HookError(`no managed vif matches "${target ?? '--all'}" (see vif-firewall status)`);

    // Every config first: an error anywhere changes nothing anywhere.
    const plans = await Promise.all(records.map(async (record) => plan(record, settings)));
    for (const p of plans) await installFirewall(await takeTurn(locking(settings), { likelyNew: false }), recordedPath(p.record), p.firewall, { acceptAllowed: settings.acceptAllowed });
    const flows = await listTrackedFlows();
    for (const p of plans) {
      await writeRecord(settings.stateDir, { ...p.record, antispoof: p.antispoof, configFile: p.configFile, rules: p.rules, appliedAt: new Date().toISOString() });
      const { cut, problems } = p.guestNets.length ? await cutFlows((listed) => flowsToCut(p.ruleSet, p.guestNets, listed), flows) : { cut: [], problems: [] };
      const notes = [
        `${p.rules} rules from ${p.configFile}`,
        p.guestNets.length ? `${cut.length} established connection${cut.length === 1 ? '' : 's'} cut` : 'no ip= for this vif: established connections were not re-checked',
      ];
      const line = `${effects().dryRun ? 'would reload' : 'reloaded'} ${p.record.vif} (${p.record.domain}, device ${p.record.dev}): ${notes.join('; ')}`;
      process.stdout.write(`${line}\n`);
      const log = new HookLog(settings.logFile, settings.syslog, `reload vif=${p.record.vif}`);
      log.write('info', line);
      for (const problem of problems) {
        process.stderr.write(`warning: ${problem}\n`);
        log.write('warning', problem);
      }
    }
    return EXIT.ok;
  },
};

async function plan(record: VifRecord, settings: Settings) {
  const configFile = existsSync(record.configFile) ? record.configFile : await locateDomainConfig(record.domain, settings.configDirs);
  const guest = await readGuestRules(configFile, record.devid, settings);
  const guestNets: Cidr[] = record.ip.flatMap((a) => {
    const c = parseCidr(a);
    return c.ok ? [c.value] : [];
  });
  // The device's MAC and addresses are what online read from xenstore; the level may have changed with the config.
  const antispoof = antispoofSpec(guest.antispoof ?? settings.antispoof, record.mac, record.ip.join(' '), `the record of ${record.vif}`);
  return {
    record,
    antispoof: antispoof.level,
    configFile,
    ruleSet: guest.ruleSet,
    rules: guest.ruleSet.rules.length,
    guestNets,
    firewall: compileVifFirewall(guest.ruleSet, antispoof, { dev: record.dev, domain: record.domain }),
  };
}
