import { attachPort, bridgeMtu, detachPort, linkExists, resolveBridge } from '../apply/bridgePort.js';
import { ensureBrNetfilter } from '../apply/brNetfilter.js';
import { installFirewall, removeFirewall, takeTurn, takeTurnIfFree } from '../apply/firewall.js';
import { writeRecord, type VifRecord } from '../apply/records.js';
import { antispoofWarning } from '../compile/antispoof.js';
import { compileVifFirewall, type VifFirewall } from '../compile/firewall.js';
import { antispoofSpec } from '../read/antispoof.js';
import { HookError, unwrap } from '../errors.js';
import { parseIfName, type IfName } from '../ifname.js';
import { locateDomainConfig, readGuestRules } from '../read/domainConfig.js';
import { readDirectory, readKey, writeKeys } from '../xenstore.js';
import { type CallContext, locking, wantedName } from './context.js';

export interface OnlineOutcome {
  readonly domain: string;
  readonly dev: IfName;
  readonly bridge: string;
  readonly configFile: string;
  readonly rules: number;
}

/**
 * online/add, in vif-bridge's order but with the firewall first: everything is read,
 * parsed and compiled before the host is touched; the chains are in the kernel before
 * the device joins the bridge; and if anything after that fails, the device leaves the
 * bridge and the chains go, so a guest is never bridged unfiltered.
 */
export async function online(ctx: CallContext): Promise<OnlineOutcome> {
  const { invocation: inv, settings } = ctx;
  // The lock and the kernel's tables need nothing of the guest: take them meanwhile if the lock is free.
  const early = takeTurnIfFree(locking(settings), { likelyNew: true });
  early.catch(() => undefined); // awaited below; must not count as unhandled before then
  let plan: OnlinePlan;
  try {
    plan = await planOnline(ctx);
  } catch (e) {
    await early.then((t) => t?.release(), () => undefined);
    throw e;
  }
  const { dev, bridge, mtu, created, record } = plan;
  const turn = (await early) ?? (await takeTurn(locking(settings), { likelyNew: true }));
  await installFirewall(turn, dev, plan.firewall, { acceptAllowed: settings.acceptAllowed });
  try {
    await writeRecord(settings.stateDir, { ...record, appliedAt: new Date().toISOString() });
    await attachPort({ created, dev, bridge, mtu });
    if (inv.typeIf === 'vif') {
      const frontendMtu = mtu ? [[`/local/domain/${inv.domid}/device/vif/${inv.devid}/mtu`, String(mtu)] as const] : [];
      await writeKeys([...frontendMtu, [`${inv.xenbusPath}/hotplug-status`, 'connected']]);
    }
  } catch (e) {
    await detachPort(dev).catch(() => undefined);
    await removeFirewall([dev], locking(settings)).catch(() => undefined);
    throw e;
  }
  return { domain: record.domain, dev, bridge, configFile: record.configFile, rules: record.rules };
}

interface OnlinePlan {
  readonly dev: IfName;
  /** The device to rename to dev, or dev itself. */
  readonly created: IfName;
  readonly bridge: IfName;
  readonly mtu: number | undefined;
  readonly firewall: VifFirewall;
  readonly record: Omit<VifRecord, 'appliedAt'>;
}

/** Reads xenstore and the domain config and compiles the firewall; touches nothing. */
async function planOnline(ctx: CallContext): Promise<OnlinePlan> {
  const { invocation: inv, settings } = ctx;
  const nameKey = `/local/domain/${inv.domid}/name`;
  const [domain, backend] = await Promise.all([readKey(nameKey), readDirectory(inv.xenbusPath)]);

  if (!domain) throw new HookError(`domain ${inv.domid} has no name in xenstore (${nameKey})`);
  const dev = unwrap(parseIfName(wantedName(inv, backend.get('vifname'))));
  const created = renameSource(inv.vif, dev);
  const bridge = resolveBridge(backend.get('bridge'));
  const mtu = positiveInt(backend.get('mtu')) ?? bridgeMtu(bridge);
  const configFile = await locateDomainConfig(domain, settings.configDirs, ctx.parentPid);
  const guest = await readGuestRules(configFile, inv.devid);
  ctx.warnings.push(...guest.warnings);
  const antispoof = antispoofSpec(guest.antispoof ?? settings.antispoof, backend.get('mac'), backend.get('ip'), `xenstore ${inv.xenbusPath}`);
  const warning = antispoofWarning(antispoof, dev);
  if (warning) ctx.warnings.push(warning);
  const firewall = compileVifFirewall(guest.ruleSet, antispoof, { dev, domain });

  const brWarning = await ensureBrNetfilter();
  if (brWarning) ctx.warnings.push(brWarning);
  return {
    dev,
    created,
    bridge,
    mtu,
    firewall,
    record: {
      vif: inv.vif,
      dev,
      domain,
      domid: inv.domid,
      devid: inv.devid,
      bridge,
      ip: (backend.get('ip') ?? '').split(/\s+/).filter(Boolean),
      mac: antispoof.mac,
      antispoof: antispoof.level,
      configFile,
      rules: guest.ruleSet.rules.length,
    },
  };
}

/**
 * The device to rename from, or dev itself when no rename is due (no vifname=, or a
 * replay after the rename already happened). Refuses a name another device holds, as
 * vif-common.sh does, before anything is changed.
 */
function renameSource(vif: IfName, dev: IfName): IfName {
  if (linkExists(vif)) {
    if (vif !== dev && linkExists(dev))
      throw new HookError(`Cannot rename interface ${vif}. An interface with name ${dev} already exists.`);
    return vif;
  }
  if (linkExists(dev)) return dev;
  throw new HookError(`device ${vif} does not exist`);
}

function positiveInt(text: string | undefined): number | undefined {
  const n = Number(text);
  return text && Number.isInteger(n) && n > 0 ? n : undefined;
}
