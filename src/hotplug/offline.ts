import { forgetConnections } from '../apply/conntrack.js';
import { detachPort, linkExists } from '../apply/bridgePort.js';
import { removeFirewall } from '../apply/firewall.js';
import { removeUnusedSets } from '../apply/ipsets.js';
import { recordedPath } from '../compile/transaction.js';
import { readRecord, removeRecord } from '../apply/records.js';
import { unwrap } from '../errors.js';
import { parseIfName, type IfName } from '../ifname.js';
import { readDirectory } from '../xenstore.js';
import { type CallContext, locking, wantedName } from './context.js';
import { notOurs } from './ownership.js';

export interface OfflineOutcome {
  readonly dev: IfName;
  readonly domain: string | undefined;
  /** 'left alone': a device of that name is there, but it is not the guest's. */
  readonly device: 'detached' | 'gone' | 'left alone';
}

/**
 * offline/remove: off the bridge, then every rule of the device goes. Works from what
 * online recorded, never from the config (it may have changed or gone) nor the device
 * (xl destroy removes it first). Without a record, xenstore's vifname, then libxl's name.
 * A device by that name that is not the guest's (a vifname= typo naming dom0's NIC, a
 * bridge, lo) is left alone: only the rules recorded for the guest go.
 */
export async function offline(ctx: CallContext): Promise<OfflineOutcome> {
  const { invocation: inv, settings } = ctx;
  const record = await readRecord(settings.stateDir, inv.vif);
  // Cleanup must not depend on xenstore answering: without it, libxl's name is the device's.
  const backend =
    record && inv.typeIf === 'vif' ? new Map<string, string>() : await readDirectory(inv.xenbusPath).catch(() => new Map<string, string>());
  const dev: IfName = record?.dev ?? unwrap(parseIfName(wantedName(inv, backend.get('vifname'))));
  const addresses = record?.ip ?? (backend.get('ip') ?? '').split(/\s+/).filter(Boolean);
  const problem = linkExists(dev) ? notOurs(ctx, dev, { vifname: backend.get('vifname'), bridge: record?.bridge ?? backend.get('bridge') }) : undefined;
  if (problem) ctx.warnings.push(`left ${dev} alone: ${problem}${record ? '' : '; nothing was recorded for this device, so no rules were removed'}`);
  const device = problem ? 'left alone' : await detachPort(dev);
  // Without a record, rules named after a device that is someone else's are not the guest's either.
  if (record || !problem)
    await removeFirewall([dev], locking(settings), {
      installedAs: record && recordedPath(record),
      installedWith: { acceptAllowed: settings.acceptAllowed },
      // Still under the lock: no online can be between loading a set and referencing it.
      forget: async () => {
        await removeRecord(settings.stateDir, inv.vif);
        // Only a device that used sets can have left one unused: spares every other offline a process.
        if (record?.sets?.length !== 0) await removeUnusedSets();
      },
    });
  ctx.warnings.push(...(await forgetConnections(addresses)));
  return { dev, domain: record?.domain, device };
}
