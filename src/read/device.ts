import { existsSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';

/**
 * Where the hook reads a network device's identity: /sys. VIF_FIREWALL_SYSFS names another
 * tree, for testing only: tests have no Xen, so no netback or qemu device to identify.
 */
export const SYSFS_ENV = 'VIF_FIREWALL_SYSFS';

export function sysfsRoot(env: NodeJS.ProcessEnv): string {
  return env[SYSFS_ENV] || '/sys';
}

/** What sysfs says a network device is, whatever it is called. */
export type DeviceIdentity =
  /** netback's vif: /sys/class/net/<dev>/device is the xen-backend device vif-<domid>-<devid>. */
  | { readonly kind: 'netback'; readonly domid: number; readonly devid: number }
  /** A tun/tap device (qemu's emulated NIC): it has tun_flags. */
  | { readonly kind: 'tap' }
  | { readonly kind: 'other' };

/** The identity of dev, read under the sysfs root; a device that is absent is 'other'. */
export function deviceIdentity(sysfs: string, dev: string): DeviceIdentity {
  const dir = join(sysfs, 'class', 'net', dev);
  let target: string | undefined;
  try {
    target = readlinkSync(join(dir, 'device'));
  } catch {
    target = undefined;
  }
  const backend = target === undefined ? null : /^vif-(\d+)-(\d+)$/.exec(basename(target));
  if (backend) return { kind: 'netback', domid: Number(backend[1]), devid: Number(backend[2]) };
  return existsSync(join(dir, 'tun_flags')) ? { kind: 'tap' } : { kind: 'other' };
}
