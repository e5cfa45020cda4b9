import { bridgeInstallTransaction, bridgeRemoveTransaction } from '../compile/bridge.js';
import type { VifFirewall } from '../compile/firewall.js';
import { installTransaction, removeTransaction, type InstallOptions } from '../compile/transaction.js';
import type { IfName } from '../ifname.js';
import { withLock } from './lock.js';
import { readBridgeInstalled, readInstalled, restore, restoreBridge } from './netfilter.js';

/** Each layer is one transaction per call: iptables, ip6tables, and our nft bridge table (anti-spoofing). */
const LAYERS = [4, 6, 'bridge'] as const;
type Layer = (typeof LAYERS)[number];

export interface Locking {
  readonly lockFile: string;
  readonly timeoutSeconds: number;
}

/**
 * Installs (or replaces) one device's firewall: one transaction per layer. If one layer's
 * transaction fails, those that went through are undone, so the call changes nothing at all.
 */
export async function installFirewall(dev: IfName, firewall: VifFirewall, options: InstallOptions, locking: Locking): Promise<void> {
  await withLock(locking.lockFile, locking.timeoutSeconds, async () => {
    const texts = await Promise.all(LAYERS.map((layer) => installText(layer, dev, firewall, options)));
    const results = await Promise.allSettled(LAYERS.map((layer, i) => apply(layer, texts[i])));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return;
    await Promise.allSettled(LAYERS.filter((_, i) => results[i]!.status === 'fulfilled').map((layer) => removeIn(layer, [dev])));
    throw failed.reason;
  });
}

/** Removes everything of the devices in every layer; a no-op where nothing is installed. */
export async function removeFirewall(devs: readonly IfName[], locking: Locking): Promise<void> {
  await withLock(locking.lockFile, locking.timeoutSeconds, async () => {
    await Promise.all(LAYERS.map((layer) => removeIn(layer, devs)));
  });
}

async function installText(layer: Layer, dev: IfName, firewall: VifFirewall, options: InstallOptions): Promise<string | undefined> {
  if (layer === 'bridge') return bridgeInstallTransaction(await readBridgeInstalled(), dev, firewall.bridge);
  return installTransaction(await readInstalled(layer), dev, firewall.chains[layer], options);
}

async function removeIn(layer: Layer, devs: readonly IfName[]): Promise<void> {
  const text =
    layer === 'bridge' ? bridgeRemoveTransaction(await readBridgeInstalled(), devs) : removeTransaction(await readInstalled(layer), devs);
  await apply(layer, text);
}

async function apply(layer: Layer, text: string | undefined): Promise<void> {
  if (text === undefined) return;
  await (layer === 'bridge' ? restoreBridge(text) : restore(layer, text));
}
