import { forgetConnections } from '../apply/conntrack.js';
import { detachPort } from '../apply/bridgePort.js';
import { removeFirewall } from '../apply/firewall.js';
import { removeUnusedSets } from '../apply/ipsets.js';
import { readRecord, removeRecord } from '../apply/records.js';
import { unwrap } from '../errors.js';
import { parseIfName, type IfName } from '../ifname.js';
import { readDirectory } from '../xenstore.js';
import { type CallContext, locking, wantedName } from './context.js';

export interface OfflineOutcome {
  readonly dev: IfName;
  readonly domain: string | undefined;
  readonly device: 'detached' | 'gone';
}

/**
 * offline/remove: off the bridge, then every rule of the device goes. Works from what
 * online recorded, never from the config (it may have changed or gone) nor the device
 * (xl destroy removes it first). Without a record, xenstore's vifname, then libxl's name.
 */
export async function offline(ctx: CallContext): Promise<OfflineOutcome> {
  const { invocation: inv, settings } = ctx;
  const record = await readRecord(settings.stateDir, inv.vif);
  let dev: IfName = record?.dev ?? inv.vif;
  let addresses = record?.ip ?? [];
  if (!record) {
    // Cleanup must not depend on xenstore answering: without it, libxl's name is the device's.
    const backend = await readDirectory(inv.xenbusPath).catch(() => new Map<string, string>());
    dev = unwrap(parseIfName(wantedName(inv, backend.get('vifname'))));
    addresses = (backend.get('ip') ?? '').split(/\s+/).filter(Boolean);
  }
  const device = await detachPort(dev);
  await removeFirewall([dev], locking(settings), {
    installedWith: { acceptAllowed: settings.acceptAllowed },
    // Still under the lock: no online can be between loading a set and referencing it.
    forget: async () => {
      await removeRecord(settings.stateDir, inv.vif);
      await removeUnusedSets();
    },
  });
  ctx.warnings.push(...(await forgetConnections(addresses)));
  return { dev, domain: record?.domain, device };
}
