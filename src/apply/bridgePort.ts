import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { HookError } from '../errors.js';
import type { IfName } from '../ifname.js';
import { run, tryRun } from './exec.js';

/** /sys is per network namespace, so these reads see what `ip` would, without a process. */
const sysNet = (dev: string, file = '') => `/sys/class/net/${dev}${file ? `/${file}` : ''}`;

export function linkExists(dev: string): boolean {
  return existsSync(sysNet(dev));
}

/**
 * vif-bridge's choice of bridge: the one xenstore names (translating an old-style xenbrN
 * to ethN when only that exists), else the first bridge on the host.
 */
export function resolveBridge(named: string | undefined): IfName {
  if (named) {
    const oldStyle = /^xenbr(\d+)$/.exec(named);
    const bridge = !linkExists(named) && oldStyle && existsSync(sysNet(`eth${oldStyle[1]}`, 'bridge')) ? `eth${oldStyle[1]}` : named;
    if (!isBridge(bridge)) throw new HookError(`Could not find bridge device ${bridge}`);
    return bridge as IfName;
  }
  const first = readdirSync('/sys/class/net')
    .sort()
    .find((d) => isBridge(d));
  if (!first) throw new HookError('Could not find bridge, and none was specified (set bridge= in the vif spec)');
  return first as IfName;
}

export function isBridge(dev: string): boolean {
  return existsSync(sysNet(dev, 'bridge'));
}

/** The bridge (or other master) dev is enslaved to, if any. */
export function masterOf(dev: string): string | undefined {
  try {
    return basename(readlinkSync(sysNet(dev, 'master')));
  } catch {
    return undefined;
  }
}

export function bridgeMtu(bridge: IfName): number | undefined {
  const text = readFileSync(sysNet(bridge, 'mtu'), 'utf8').trim();
  const mtu = Number(text);
  return Number.isInteger(mtu) && mtu > 0 ? mtu : undefined;
}

export interface PortPlan {
  /** The device as netback/qemu created it. */
  readonly created: IfName;
  /** The name it must have (differs when the vif spec sets vifname=). */
  readonly dev: IfName;
  readonly bridge: IfName;
  readonly mtu: number | undefined;
}

/**
 * vif-bridge's setup_virtual_bridge_port + set_mtu + add_to_bridge, in one `ip -batch`
 * process. The dummy MAC fe:ff:ff:ff:ff:ff keeps the bridge from taking the vif's
 * address as its own (it picks the lowest).
 */
export async function attachPort(plan: PortPlan): Promise<void> {
  const { dev } = plan;
  const lines = [
    ...(plan.created !== dev ? [`link set dev ${plan.created} name ${dev}`] : []),
    `link set dev ${dev} down`,
    `link set dev ${dev} address fe:ff:ff:ff:ff:ff`,
    `address flush dev ${dev}`,
    ...(plan.mtu ? [`link set dev ${dev} mtu ${plan.mtu}`] : []),
    `link set dev ${dev} master ${plan.bridge}`,
    `link set dev ${dev} up`,
  ];
  await run('ip', ['-batch', '-'], { input: lines.join('\n') + '\n', changes: true });
}

/** Link down and off its bridge; quiet when the device is already gone (xl destroy removes it before offline). */
export async function detachPort(dev: IfName): Promise<'detached' | 'gone'> {
  if (!linkExists(dev)) return 'gone';
  await tryRun('ip', ['-force', '-batch', '-'], { input: `link set dev ${dev} down\nlink set dev ${dev} nomaster\n`, changes: true });
  return 'detached';
}
