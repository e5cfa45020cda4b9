import { linkExists } from '../apply/bridgePort.js';
import { ensureBrNetfilter } from '../apply/brNetfilter.js';
import { effects } from '../apply/effects.js';
import { installFirewall, takeTurn } from '../apply/firewall.js';
import { listRecords } from '../apply/records.js';
import { recordedPath } from '../compile/transaction.js';
import { locking } from '../hotplug/context.js';
import { installedOf } from '../read/recorded.js';
import { readSettings } from '../read/settings.js';
import { HookLog } from '../report/log.js';
import { type Command, EXIT, describeError } from './command.js';

export const repairCommand: Command = {
  name: 'repair',
  summary: 'repair [--dry-run]: reinstall every running guest\'s firewall exactly as online left it (after a foreign flush)',
  help: `usage: vif-firewall repair [--dry-run] [--verbose]

Reinstalls the firewall of every vif online recorded whose device still exists, from its
record alone: the rule lines, MAC, addresses and anti-spoofing level it was installed with,
not the config as it reads now (a config edited since, or broken, changes nothing here;
reload applies configs). Recreates the jumps, dispatch chains and nft table bridge vif-fw,
and turns net.bridge.bridge-nf-call-iptables and -ip6tables back on. Run by
vif-firewall-repair.service after nftables.service or netfilter-persistent.service (re)load
the host's rules, and safe to run at any time: a vif already in force is replaced by the same
rules, one transaction per family. Established connections are kept.

  --dry-run   change nothing: print each command and its restore text

exit: 0 every recorded vif reinstalled (or nothing recorded), 1 one or more failed (each
      is logged; the others are reinstalled all the same)`,
  booleans: ['dry-run'],
  async run() {
    const settings = await readSettings(process.env);
    const log = new HookLog(settings.logFile, settings.syslog, 'repair');
    const records = (await listRecords(settings.stateDir)).filter((r) => linkExists(r.dev)).sort((a, b) => a.vif.localeCompare(b.vif, 'en', { numeric: true }));
    let failed = 0;
    try {
      const brWarning = await ensureBrNetfilter();
      if (brWarning) log.write('warning', brWarning);
    } catch (e) {
      failed++;
      log.write('err', describeError(e));
      process.stderr.write(`vif-firewall repair: ${describeError(e)}\n`);
    }
    // One vif at a time, each on its own: a record that cannot be rebuilt must not leave the others unfiltered.
    for (const r of records) {
      try {
        const { firewall } = await installedOf(r, settings);
        await installFirewall(await takeTurn(locking(settings)), recordedPath(r), firewall, { acceptAllowed: settings.acceptAllowed });
        const line = `${effects().dryRun ? 'would reinstall' : 'reinstalled'} ${r.vif} (${r.domain}, device ${r.dev}): ${r.rules} rules as applied ${r.appliedAt}`;
        log.write('info', line);
        process.stdout.write(`${line}\n`);
      } catch (e) {
        failed++;
        const line = `${r.vif} (${r.domain}, device ${r.dev}) not reinstalled: ${describeError(e)}`;
        log.write('err', line);
        process.stderr.write(`vif-firewall repair: ${line}\n`);
      }
    }
    if (records.length === 0) process.stdout.write('nothing to repair: no running vif is recorded\n');
    return failed ? EXIT.failed : EXIT.ok;
  },
};
