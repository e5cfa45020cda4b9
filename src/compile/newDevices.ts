import type { IfName } from '../ifname.js';
import type { Family } from '../rules/model.js';
import { bridgeNewDevicesTransaction } from './bridge.js';
import type { VifFirewall } from './firewall.js';
import { newDeviceLines, newDevicesTransaction, type DevicePath, type InstallOptions } from './transaction.js';

/**
 * One device's install on a host where the skeleton is in place, compiled by the device's own
 * call so that whichever call holds the lock can commit it, alone or with other new devices:
 * a boot storm then commits the queue once per layer instead of once per guest.
 */
export interface NewDevice {
  readonly dev: IfName;
  /** Its lines of an iptables-restore (newDeviceLines), per family. */
  readonly filter: Readonly<Record<Family, readonly string[]>>;
  /** Its bridge chain's body, never empty (a device without checks is installed alone). */
  readonly bridge: readonly string[];
}

export function newDevice(path: DevicePath, firewall: VifFirewall, options: InstallOptions): NewDevice {
  const filter = (family: Family) => newDeviceLines(path, family, firewall.chains[family], options);
  return { dev: path.dev, filter: { 4: filter(4), 6: filter(6) }, bridge: firewall.bridge };
}

/**
 * The devices' installs in one layer's transaction. Each fails, changing nothing, if the
 * skeleton is broken or any of the devices is in that layer already; so a layer that went
 * through added these devices and nothing else, and removing them undoes it exactly. The bridge
 * layer rewrites the base chain too when repairBase (it was found broken).
 */
export function newDevicesLayer(layer: Family | 'bridge', devices: readonly NewDevice[], repairBase: boolean): string {
  if (layer === 'bridge') return bridgeNewDevicesTransaction(devices.map(({ dev, bridge: body }) => ({ dev, body })), repairBase);
  return newDevicesTransaction(devices.map((d) => d.filter[layer]));
}
