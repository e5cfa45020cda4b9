import { existsSync } from 'node:fs';
import { ensureBrNetfilter } from '../apply/brNetfilter.js';
import { cutFlows, listTrackedFlows } from '../apply/conntrack.js';
import { effects, setEffects } from '../apply/effects.js';
import { installFirewall, takeTurn } from '../apply/firewall.js';
import { listOurSets, loadSetsFor, refreshSets } from '../apply/ipsets.js';
import { withLock } from '../apply/lock.js';
import { ipsetName, setsUsed } from '../compile/ipsets.js';
import { listRecords, writeRecord, type VifRecord } from '../apply/records.js';
import { antispoofWarning } from '../compile/antispoof.js';
import { flowsToCut } from '../compile/cut.js';
import { compileVifFirewall } from '../compile/firewall.js';
import { recordedPath } from '../compile/transaction.js';
import { HookError } from '../errors.js';
import { locking } from '../hotplug/context.js';
import { antispoofSpec } from '../read/antispoof.js';
import { locateDomainConfig, readGuestRules } from '../read/domainConfig.js';
import { installedOf } from '../read/recorded.js';
import { readSettings, type Settings } from '../read/settings.js';
import { ruleWordsDiff } from '../report/diff.js';
import { HookLog } from '../report/log.js';
import { parseCidr } from '../rules/address.js';
import type { Cidr } from '../rules/model.js';
import { type Command, EXIT, UsageError, describeError } from './command.js';
import { writeJson } from './json.js';

export const reloadCommand: Command = {
  name: 'reload',
  summary: "reload <domain | vif | --all | --sets> [--dry-run] [--json]: replace a running guest's rules atomically",
  help: `usage: vif-firewall reload <domain | vif | --all | --sets> [--dry-run [--verbose]] [--json]

Re-reads the config of running guests and replaces their rules, one transaction per
family and device: there is no instant where a vif is unfiltered or filtered twice.
Connections the new rules still allow go on; established connections they no longer
allow are cut (their conntrack entries deleted), for the addresses of the vif's ip=.
Every config is read and checked first: if one has an error, nothing is changed.
Every reload, done or failed, writes one line per vif (or its error) to the log.

  --all       every vif online recorded, and the named sets (--sets)
  --sets      the named sets of vif-firewall.conf in use: each is swapped for its new
              members at once for every guest, no guest's rules are rewritten; the
              established connections of a removed member are cut
  --dry-run   change nothing: say what would be reloaded and what changes, in rule words
              (- a line installed now, + a line the config says instead); with --verbose,
              every command and the restore text too
  --json      the same as data: { "version": 1, "dryRun", "vifs": [ { "vif", "domain",
              "dev", "configFile", "rules", "changes": [ { "sign", "text" } ],
              "connectionsCut" } ] }

exit: 0 reloaded, 1 failed (nothing changed when a config has an error), 2 bad usage`,
  booleans: ['all', 'dry-run', 'json', 'sets'],
  positional: { min: 0, max: 1, what: 'one domain or vif, or give --all or --sets' },
  async run(args) {
    const target = args._[0] === undefined ? undefined : String(args._[0]);
    if (target && args.all) throw new UsageError('name one domain or vif, or give --all');
    if (!target && !args.all && !args.sets) throw new UsageError('name one domain or vif, or give --all or --sets');
    // A dry run shows the change in rule words; each command and its restore text only when asked for.
    if (effects().dryRun && !args.verbose) setEffects({ ...effects(), narrate: undefined });
    const settings = await readSettings(process.env);
    const log = new HookLog(settings.logFile, settings.syslog, `reload ${target ?? '--all'}`);
    try {
      if (args.sets || args.all) await reloadSets(settings);
      if (!target && !args.all) return EXIT.ok;
      return await reload(target, args.json === true, settings);
    } catch (e) {
      log.write('err', `failed: ${describeError(e)}`);
      throw e;
    }
  },
};

async function reload(target: string | undefined, json: boolean, settings: Settings): Promise<number> {
  const records = (await listRecords(settings.stateDir)).filter((r) => !target || r.vif === target || r.dev === target || r.domain === target);
  if (records.length === 0) throw new HookError(`no managed vif matches "${target ?? '--all'}" (see vif-firewall status)`);

  // Every config first: an error anywhere changes nothing anywhere.
  const plans = await Promise.all(records.map(async (record) => plan(record, settings)));
  const brWarning = await ensureBrNetfilter();
  // A set a guest now names for the first time must exist before its rules reference it.
  for (const p of plans) {
    const turn = await loadSetsFor(await takeTurn(locking(settings)), setsUsed(p.ruleSet));
    await installFirewall(turn, recordedPath(p.record), p.firewall, { acceptAllowed: settings.acceptAllowed });
  }
  const flows = await listTrackedFlows();
  const done = [];
  for (const p of plans) {
    await writeRecord(settings.stateDir, { ...p.record, ...p.recorded, warnings: [...p.warnings, ...(brWarning ? [brWarning] : [])], appliedAt: new Date().toISOString() });
    const { cut, problems } = p.guestNets.length ? await cutFlows((listed) => flowsToCut(p.ruleSet, p.guestNets, listed), flows) : { cut: [], problems: [] };
    const notes = [
      `${p.recorded.rules} rules from ${p.recorded.configFile}`,
      p.guestNets.length ? `${cut.length} established connection${cut.length === 1 ? '' : 's'} cut` : 'no ip= for this vif: established connections were not re-checked',
    ];
    const line = `${effects().dryRun ? 'would reload' : 'reloaded'} ${p.record.vif} (${p.record.domain}, device ${p.record.dev}): ${notes.join('; ')}`;
    const log = new HookLog(settings.logFile, settings.syslog, `reload vif=${p.record.vif}`);
    log.write('info', line);
    for (const problem of problems) {
      process.stderr.write(`warning: ${problem}\n`);
      log.write('warning', problem);
    }
    done.push({ p, line, cut: p.guestNets.length ? cut.length : null });
  }
  if (json) {
    const vifs = done.map(({ p, cut }) => ({
      vif: p.record.vif,
      domain: p.record.domain,
      dev: p.record.dev,
      configFile: p.recorded.configFile,
      rules: p.recorded.rules,
      changes: p.changes,
      connectionsCut: cut,
    }));
    writeJson({ dryRun: effects().dryRun, vifs });
    return EXIT.ok;
  }
  for (const { p, line } of done) {
    process.stdout.write(`${line}\n`);
    if (!effects().dryRun) continue;
    if (p.changes.length === 0) process.stdout.write('  no change in its rules\n');
    for (const c of p.changes) process.stdout.write(`  ${c.sign} ${c.text}\n`);
  }
  return EXIT.ok;
}

async function plan(record: VifRecord, settings: Settings) {
  const configFile = existsSync(record.configFile) ? record.configFile : (await locateDomainConfig(record.domain, settings.configDirs)).file;
  const [guest, before] = await Promise.all([readGuestRules(configFile, record.devid, settings), installedOf(record, settings).catch(() => undefined)]);
  const guestNets: Cidr[] = record.ip.flatMap((a) => {
    const c = parseCidr(a);
    return c.ok ? [c.value] : [];
  });
  // The device's MAC and addresses are what online read from xenstore; the level may have changed with the config.
  const antispoof = antispoofSpec(guest.antispoof ?? settings.antispoof, record.mac, record.ip.join(' '), `the record of ${record.vif}`);
  const level = antispoofWarning(antispoof, record.dev);
  return {
    record,
    recorded: {
      antispoof: antispoof.level,
      configFile,
      rules: guest.ruleSet.rules.length,
      source: { key: guest.key, lines: guest.lines },
      // The sets it used before stay listed: offline destroys what is left unused of them.
      sets: record.sets && [...new Set([...record.sets, ...setsUsed(guest.ruleSet).map((s) => s.name)])],
    },
    warnings: [...guest.warnings, ...(level ? [level] : [])],
    changes: ruleWordsDiff({ lines: before?.lines.map((l) => l.value) ?? [], antispoof: record.antispoof }, { lines: guest.lines.map((l) => l.value), antispoof: antispoof.level }),
    ruleSet: guest.ruleSet,
    guestNets,
    firewall: compileVifFirewall(guest.ruleSet, antispoof, { dev: record.dev, domain: record.domain }),
  };
}

/**
 * Swaps every set that is in the kernel (some guest uses it) for its members in
 * vif-firewall.conf, in one batch under the lock. A set still referenced but no longer
 * defined keeps its members: the guests that use it fail their next reload, which says why.
 * Then, as a guest's reload does, the established connections of the guests using a swapped
 * set that their rules no longer allow (a removed member's) are cut.
 */
async function reloadSets(settings: Settings): Promise<void> {
  const swapped = await withLock(settings.stateDir, settings.lockTimeoutSeconds, async () => {
    const inKernel = new Set(await listOurSets());
    const used = [...settings.sets].filter(([name]) => inKernel.has(ipsetName(4, name)) || inKernel.has(ipsetName(6, name)));
    await refreshSets(used.map(([name, set]) => ({ name, members: set.members })));
    return used;
  });
  const names = new Set(swapped.map(([name]) => name));
  // A guest whose config no longer reads is left alone here: its own reload reports why.
  const records = names.size > 0 ? await listRecords(settings.stateDir) : [];
  const plans = await Promise.all(records.map((r) => plan(r, settings).catch(() => undefined)));
  const affected = plans.filter((p) => p && p.guestNets.length > 0 && setsUsed(p.ruleSet).some((s) => names.has(s.name)));
  const flows = affected.length > 0 ? await listTrackedFlows() : [];
  const log = new HookLog(settings.logFile, settings.syslog, 'reload --sets');
  let cut = 0;
  for (const p of affected) {
    const result = await cutFlows((listed) => flowsToCut(p!.ruleSet, p!.guestNets, listed), flows);
    cut += result.cut.length;
    for (const problem of result.problems) {
      process.stderr.write(`warning: ${problem}\n`);
      log.write('warning', problem);
    }
  }
  const count = (members: readonly Cidr[], f: 4 | 6) => members.filter((c) => c.family === f).length;
  const lines = swapped.map(
    ([name, set]) => `${effects().dryRun ? 'would swap' : 'swapped'} set ${name}: ${count(set.members, 4)} IPv4 and ${count(set.members, 6)} IPv6 members`,
  );
  if (cut > 0) lines.push(`${cut} established connection${cut === 1 ? '' : 's'} the new members no longer allow cut`);
  for (const line of lines.length ? lines : ['no named set is in use: nothing to swap']) {
    process.stdout.write(`${line}\n`);
    log.write('info', line);
  }
}
