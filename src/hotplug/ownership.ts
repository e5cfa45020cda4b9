import { isBridge, masterOf } from '../apply/bridgePort.js';
import type { IfName } from '../ifname.js';
import { deviceIdentity } from '../read/device.js';
import type { Invocation } from '../read/invocation.js';
import { type CallContext, wantedName } from './context.js';

/** What the guest's own device may look like besides its identity: its names and its bridge. */
export interface Expected {
  /** xenstore's vifname= for the device, if any. */
  readonly vifname: string | undefined;
  /** The bridge the guest's device is on or goes on; a tap on another bridge is someone else's. */
  readonly bridge: string | undefined;
}

/**
 * Why dev is not this call's device, or undefined when it is. A name proves nothing (a
 * vifname= can name dom0's uplink, a bridge or lo), so ownership is positive:
 * - a vif is netback's device of this domain and device id: sysfs links it to the
 *   xen-backend device vif-<domid>-<devid>, whatever it is called by now;
 * - a tap (qemu's emulated NIC) has no such link, so it must be a tun/tap device, not a
 *   bridge, called as libxl names it (vifD.N-emu) or as the vifname= rename makes it, and
 *   not a port of a bridge other than the guest's.
 */
export function notOurs(ctx: CallContext, dev: IfName, expected: Expected): string | undefined {
  const inv = ctx.invocation;
  const identity = deviceIdentity(ctx.sysfs, dev);
  if (inv.typeIf === 'vif') {
    if (identity.kind === 'netback' && identity.domid === inv.domid && identity.devid === inv.devid) return undefined;
    const what =
      identity.kind === 'netback'
        ? `the vif of domain ${identity.domid} device ${identity.devid}`
        : isBridge(dev)
          ? 'a bridge'
          : 'not a Xen netback device';
    return `${dev} is ${what}, not ${ownName(inv)}`;
  }
  if (identity.kind !== 'tap' || isBridge(dev)) return `${dev} is not a tap device, so not ${ownName(inv)}`;
  const names = [inv.vif, wantedName(inv, expected.vifname)];
  if (!names.includes(dev)) return `${dev} is a tap device, but ${ownName(inv)} is called ${[...new Set(names)].join(' or ')}`;
  const master = masterOf(dev);
  if (master && master !== expected.bridge) return `${dev} is a port of ${master}, not of the guest's bridge ${expected.bridge ?? '(none)'}`;
  return undefined;
}

function ownName(inv: Invocation): string {
  return `the ${inv.typeIf === 'vif' ? 'vif' : 'emulated NIC'} of domain ${inv.domid} device ${inv.devid}`;
}
