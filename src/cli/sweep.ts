import { linkExists } from '../apply/bridgePort.js';
import { removeFirewall } from '../apply/firewall.js';
import { readBridgeInstalled, readInstalled } from '../apply/netfilter.js';
import { listRecords, removeRecord } from '../apply/records.js';
import { unwrap } from '../errors.js';
import { locking } from '../hotplug/context.js';
import { parseIfName } from '../ifname.js';
import { readSettings } from '../read/settings.js';
import { effects } from '../apply/effects.js';
import { type Command, EXIT } from './command.js';
import { writeJson } from './json.js';

export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'sweep [--dry-run] [--json]: remove chains and records of devices that are gone (safe at boot)',
  help: `usage: vif-firewall sweep [--dry-run] [--json]

Removes what a dom0 crash or a killed hook leaves behind: the chains and jumps of every
device of ours that no longer exists, and records of online calls whose device is gone.
Devices that exist are never touched. Safe to run at boot and from cron.

  --dry-run   print what would be removed, remove nothing
  --json      say it as one JSON object: { "version": 1, "dryRun", "chains", "records" }

exit: 0 swept (or nothing to do), 1 failed`,
  booleans: ['dry-run', 'json'],
  positional: { min: 0, max: 0, what: 'nothing' },
  async run(args) {
    const settings = await readSettings(process.env);
    const [v4, v6, bridge] = await Promise.all([readInstalled(4), readInstalled(6), readBridgeInstalled()]);
    const gone = [...new Set([...v4.devices, ...v6.devices, ...bridge.chains])].filter((d) => !linkExists(d)).sort();
    const records = (await listRecords(settings.stateDir)).filter((r) => !linkExists(r.dev));
    if (gone.length) await removeFirewall(gone.map((d) => unwrap(parseIfName(d))), locking(settings));
    for (const r of records) await removeRecord(settings.stateDir, r.vif);
    if (args.json) {
      writeJson({
        dryRun: effects().dryRun,
        chains: gone.map((device) => ({ device })),
        records: records.map((r) => ({ vif: r.vif, domain: r.domain, device: r.dev })),
      });
      return EXIT.ok;
    }
    const verb = effects().dryRun ? 'would remove' : 'removed';
    for (const d of gone) process.stdout.write(`${verb} the chains of ${d} (device gone)\n`);
    for (const r of records) process.stdout.write(`${verb} the record of ${r.vif} (${r.domain}, device ${r.dev} gone)\n`);
    if (!gone.length && !records.length) process.stdout.write('nothing to sweep\n');
    return EXIT.ok;
  },
};
