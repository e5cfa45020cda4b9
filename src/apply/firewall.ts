import type { VifChainBodies } from '../compile/chains.js';
import { installTransaction, removeTransaction, type InstallOptions } from '../compile/transaction.js';
import type { IfName } from '../ifname.js';
import type { Family } from '../rules/model.js';
import { withLock } from './lock.js';
import { readInstalled, restore } from './netfilter.js';

const FAMILIES = [4, 6] as const satisfies readonly Family[];

export interface Locking {
  readonly lockFile: string;
  readonly timeoutSeconds: number;
}

/**
 * Installs (or replaces) one device's chains in both families: one iptables-restore and
 * one ip6tables-restore. If the second family's transaction fails, the first one's is
 * undone, so the call changes nothing at all.
 */
export async function installFirewall(
  dev: IfName,
  bodies: Record<Family, VifChainBodies>,
  options: InstallOptions,
  locking: Locking,
): Promise<void> {
  await withLock(locking.lockFile, locking.timeoutSeconds, async () => {
    const installed = await Promise.all(FAMILIES.map(readInstalled));
    const results = await Promise.allSettled(
      FAMILIES.map((f, i) => restore(f, installTransaction(installed[i]!, dev, bodies[f], options))),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return;
    await Promise.allSettled(FAMILIES.filter((_, i) => results[i]!.status === 'fulfilled').map((f) => removeIn(f, [dev])));
    throw failed.reason;
  });
}

/** Removes everything of the devices in both families; a no-op where nothing is installed. */
export async function removeFirewall(devs: readonly IfName[], locking: Locking): Promise<void> {
  await withLock(locking.lockFile, locking.timeoutSeconds, async () => {
    await Promise.all(FAMILIES.map((f) => removeIn(f, devs)));
  });
}

async function removeIn(family: Family, devs: readonly IfName[]): Promise<void> {
  const text = removeTransaction(await readInstalled(family), devs);
  if (text) await restore(family, text);
}
