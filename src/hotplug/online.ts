import { attachPort, bridgeMtu, detachPort, linkExists, resolveBridge } from '../apply/bridgePort.js';
import { ensureBrNetfilter } from '../apply/brNetfilter.js';
import { installFirewall, isServed, type Batchable, type Served, type Turn, queueForTurn, removeFirewall } from '../apply/firewall.js';
import { queueJob, type OwnJob } from '../apply/queue.js';
import { newDevice, type NewDevice } from '../compile/newDevices.js';
import { loadSetsFor } from '../apply/ipsets.js';
import { setsUsed } from '../compile/ipsets.js';
import { writeRecord, type VifRecord } from '../apply/records.js';
import { antispoofWarning } from '../compile/antispoof.js';
import { compileVifFirewall, type VifFirewall } from '../compile/firewall.js';
import { uncoveredPaths, type DevicePath, type InstallOptions } from '../compile/transaction.js';
import { antispoofSpec } from '../read/antispoof.js';
import { HookError, unwrap } from '../errors.js';
import { parseIfName, type IfName } from '../ifname.js';
import type { AddressSet } from '../rules/model.js';
import { locateDomainConfig, readGuestRules, type GuestRules } from '../read/domainConfig.js';
import { narrate } from '../apply/effects.js';
import { readDirectory, readKey, writeKeys } from '../xenstore.js';
import { type CallContext, locking, wantedName } from './context.js';
import { notOurs } from './ownership.js';

export interface OnlineOutcome {
  readonly domain: string;
  readonly dev: IfName;
  readonly bridge: string;
  readonly configFile: string;
  readonly rules: number;
  /** How its firewall went in: alone, with N other devices' queued installs, or by the call holding the lock. */
  readonly commit: 'alone' | `with ${number} queued` | 'queued';
}

/**
 * online/add, in vif-bridge's order but with the firewall first: everything is read,
 * parsed and compiled before the host is touched; the chains are in the kernel before
 * the device joins the bridge; and if anything after that fails, the device leaves the
 * bridge and the chains go, so a guest is never bridged unfiltered.
 */
export async function online(ctx: CallContext): Promise<OnlineOutcome> {
  const { settings } = ctx;
  const guest = await readGuest(ctx);
  // Only now the lock: whatever this guest's input holds, other guests never wait on it.
  // The kernel's tables need nothing more of the guest: read them while compiling.
  let job: OwnJob | undefined;
  let held = false; // the lock taken before the compile ended: nobody else can commit this call's install
  const turn = queueForTurn(locking(settings), () => job);
  turn.then(() => (held = true), () => undefined); // awaited below; must not count as unhandled before then
  try {
    const plan = await planOnline(ctx, guest).catch(async (e: unknown) => {
      await turn.then(giveBack, () => undefined);
      throw e;
    });
    const device = newDeviceOf(ctx, plan);
    job = device && !held ? await queueJob(settings.stateDir, device, { ...plan.record, warnings: ctx.warnings }).catch(() => undefined) : undefined;
    const t = await turn;
    const others = await install(ctx, plan, t, device && { device, job });
    await connect(ctx, plan, isServed(t));
    const { record } = plan;
    const commit = isServed(t) ? 'queued' : others > 0 ? (`with ${others} queued` as const) : 'alone';
    return { domain: record.domain, dev: plan.dev, bridge: plan.bridge, configFile: record.configFile, rules: record.rules, commit };
  } finally {
    await job?.discard();
  }
}

const giveBack = (turn: Turn | Served) => (isServed(turn) ? undefined : turn.release());

const installOptions = (ctx: CallContext): InstallOptions => ({ acceptAllowed: ctx.settings.acceptAllowed });

/**
 * The install compiled so that the call holding the lock can commit it with others: left in
 * the queue while this call waits for the lock (without the queue the call installs alone, as
 * it always can), or committed by this call with the jobs it finds there. undefined for a
 * device whose rules use sets, or that has no checks: it is installed alone, since its sets are
 * loaded under the lock, and removing checks reads the bridge table.
 */
function newDeviceOf(ctx: CallContext, plan: OnlinePlan): NewDevice | undefined {
  if (plan.sets.length > 0 || plan.firewall.bridge.length === 0) return undefined;
  return newDevice(plan.path, plan.firewall, installOptions(ctx));
}

/**
 * The firewall in the kernel, installed by this call or (SERVED) by the call that committed its
 * job; how many other devices' jobs this call committed with its own.
 */
async function install(ctx: CallContext, plan: OnlinePlan, turn: Turn | Served, batch: Batchable | undefined): Promise<number> {
  if (isServed(turn)) {
    narrate(`installed with other devices by the call holding the lock, which wrote the record`);
    return 0;
  }
  // The sets the rules name must exist before the transaction that references them.
  return installFirewall(await loadSetsFor(turn, plan.sets), plan.path, plan.firewall, installOptions(ctx), batch);
}

/**
 * The record written (unless the call that committed the job wrote it), the device on its
 * bridge, and libxl told; if any of it fails, the device leaves the bridge and its rules go.
 */
async function connect(ctx: CallContext, plan: OnlinePlan, recorded: boolean): Promise<void> {
  const { invocation: inv, settings } = ctx;
  const { created, dev, bridge, mtu, record } = plan;
  try {
    if (!recorded) await writeRecord(settings.stateDir, { ...record, warnings: ctx.warnings, appliedAt: new Date().toISOString() });
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
}

interface OnlinePlan {
  readonly dev: IfName;
  /** The device to rename to dev, or dev itself. */
  readonly created: IfName;
  readonly bridge: IfName;
  readonly mtu: number | undefined;
  readonly path: DevicePath;
  readonly firewall: VifFirewall;
  /** The named sets the rules use, loaded into the kernel as vif-firewall.conf has them now. */
  readonly sets: readonly AddressSet[];
  readonly record: Omit<VifRecord, 'appliedAt'>;
}

/** What online reads before it takes the lock: xenstore, the device and the domain config. */
interface Guest {
  readonly domain: string;
  readonly backend: ReadonlyMap<string, string>;
  readonly dev: IfName;
  readonly created: IfName;
  readonly bridge: IfName;
  readonly configFile: string;
  readonly rules: GuestRules;
}

/** Reads xenstore and the domain config and makes sure the device is the guest's; touches nothing. */
async function readGuest(ctx: CallContext): Promise<Guest> {
  const { invocation: inv, settings } = ctx;
  const nameKey = `/local/domain/${inv.domid}/name`;
  const [domain, backend] = await Promise.all([readKey(nameKey), readDirectory(inv.xenbusPath)]);

  if (!domain) throw new HookError(`domain ${inv.domid} has no name in xenstore (${nameKey})`);
  const vifname = backend.get('vifname');
  const dev = unwrap(parseIfName(wantedName(inv, vifname)));
  const created = renameSource(inv.vif, dev);
  const bridge = resolveBridge(backend.get('bridge'));
  const problem = notOurs(ctx, created, { vifname, bridge });
  if (problem) throw new HookError(`refusing to touch ${created}: ${problem}`);
  const located = await locateDomainConfig(domain, settings.configDirs, ctx.parentPid);
  narrate(`domain config ${located.file}: ${located.how}`);
  const configFile = located.file;
  const rules = await readGuestRules(configFile, inv.devid, settings);
  return { domain, backend, dev, created, bridge, configFile, rules };
}

/** Compiles the firewall from what readGuest read; touches nothing. */
async function planOnline(ctx: CallContext, { domain, backend, dev, created, bridge, configFile, rules: guest }: Guest): Promise<OnlinePlan> {
  const { invocation: inv, settings } = ctx;
  const mtu = positiveInt(backend.get('mtu')) ?? bridgeMtu(bridge);
  ctx.warnings.push(...guest.warnings);
  const antispoof = antispoofSpec(guest.antispoof ?? settings.antispoof, backend.get('mac'), backend.get('ip'), `xenstore ${inv.xenbusPath}`);
  const warning = antispoofWarning(antispoof, dev);
  if (warning) ctx.warnings.push(warning);
  const firewall = compileVifFirewall(guest.ruleSet, antispoof, { dev, domain });
  const path: DevicePath = { dev, bridge, addresses: antispoof.ip ?? [] };
  const uncovered = uncoveredPaths(path);
  if (uncovered) ctx.warnings.push(uncovered);

  const sets = setsUsed(guest.ruleSet);
  const brWarning = await ensureBrNetfilter();
  if (brWarning) ctx.warnings.push(brWarning);
  return {
    dev,
    created,
    bridge,
    mtu,
    path,
    firewall,
    sets,
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
      source: { key: guest.key, lines: guest.lines },
      sets: sets.map((set) => set.name),
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
