import { bridgeInstallTransaction, bridgeQuickRemoveTransaction, bridgeRemoveTransaction } from '../compile/bridge.js';
import type { VifFirewall } from '../compile/firewall.js';
import { ON_RECORDS, installTransaction, quickRemoveTransaction, removeTransaction, type DevicePath, type InstallOptions } from '../compile/transaction.js';
import type { IfName } from '../ifname.js';
import { acquireLock, withLock, type Release } from './lock.js';
import { readBridgeBaseIntact, readBridgeInstalled, readInstalled, restore, restoreBridge } from './netfilter.js';
import { countRecords } from './records.js';

/** Each layer is one transaction per call: iptables, ip6tables, and our nft bridge table (anti-spoofing). */
const LAYERS = [4, 6, 'bridge'] as const;
type Layer = (typeof LAYERS)[number];

/** Where the hook keeps its records (the lock is named after it), and how long a call waits for the lock. */
export interface Locking {
  readonly stateDir: string;
  readonly timeoutSeconds: number;
}

/**
 * From this many installed devices on, a table counts as large: online does not list the bridge
 * table's base chain, since nft lists every guest's checks to show one chain (56–135 ms at 1,000
 * guests). Below, and for reload and repair always, listing it costs one process that runs while
 * the call waits for the lock, and lets the install repair a base chain someone broke.
 */
const LARGE_FROM = 50;

/** The hook's lock, held, and how the install builds its transactions. */
export interface Turn {
  /**
   * Build on the records instead of reading the filter tables: a device most likely new
   * (online, not reload) on a host where other devices are installed. A wrong guess fails the
   * commit, and the layer reads its table and tries again.
   */
  readonly onRecords: boolean;
  /**
   * Whether the bridge table's base chain is as we make it (then an install leaves it alone), or
   * undefined: not read (a large table, trusted). Read while the call waits for the lock, so
   * that the lock is held for one process less: a chain broken between the read and the commit
   * is no likelier than one broken just after the commit, which only status sees and repair mends.
   */
  readonly bridgeBaseIntact: Promise<boolean> | undefined;
  readonly release: Release;
}

/**
 * Takes the lock: where every install starts. It needs nothing of the guest, so online asks
 * for it while it still compiles. The filter tables are not read here: each layer reads what it
 * must (if anything) on its own, so no layer waits for another's read.
 */
export async function takeTurn(locking: Locking, { likelyNew }: { likelyNew: boolean }): Promise<Turn> {
  // A measure of the tables' size, not a promise about them: every guess is checked by the commit.
  const devices = await countRecords(locking.stateDir);
  // reload and repair always look at the base chain: on a large host they are where a broken one is mended.
  const bridgeBaseIntact = !likelyNew || devices < LARGE_FROM ? readBridgeBaseIntact() : undefined;
  bridgeBaseIntact?.catch(() => undefined); // awaited by the install; must not count as unhandled before
  const release = await acquireLock(locking.stateDir, locking.timeoutSeconds);
  // With no record there is most likely no skeleton either: a commit on the records would fail.
  return { onRecords: likelyNew && devices > 0, bridgeBaseIntact, release };
}

/**
 * Installs (or replaces) one device's firewall, one transaction per layer, then gives the
 * turn back. If one layer's transaction fails, those that went through are undone, so the
 * call changes nothing at all.
 */
export async function installFirewall(turn: Turn, path: DevicePath, firewall: VifFirewall, options: InstallOptions): Promise<void> {
  try {
    const results = await Promise.allSettled(LAYERS.map((layer) => installIn(layer, turn, path, firewall, options)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return;
    await Promise.allSettled(LAYERS.filter((_, i) => results[i]!.status === 'fulfilled').map((layer) => removeIn(layer, [path.dev])));
    throw failed.reason;
  } finally {
    await turn.release();
  }
}

/** How offline removes one device: as online installed it, and then its record. */
export interface Removal {
  /** The device as online recorded it; unknown without a record, and then the tables are read. */
  readonly installedAs: DevicePath | undefined;
  readonly installedWith: InstallOptions;
  /** Runs under the same lock once the rules are gone, so that no other call counts a record whose rules are gone. */
  readonly forget: () => Promise<void>;
}

/**
 * Removes everything of the devices in every layer; a no-op where nothing is installed. One
 * device removed as it was installed, while other devices stay (their records say so), is
 * removed without reading the tables first: the skeleton stays, and exactly what online added
 * goes. If the kernel holds anything else, that commit fails and the full read takes over.
 */
export async function removeFirewall(devs: readonly IfName[], locking: Locking, removal?: Removal): Promise<void> {
  await withLock(locking.stateDir, locking.timeoutSeconds, async () => {
    const [dev] = devs;
    // The device's own record is still there: more than one means others stay.
    const path = removal?.installedAs;
    const quick = path && devs.length === 1 && path.dev === dev && (await countRecords(locking.stateDir)) > 1;
    await Promise.all(
      LAYERS.map(async (layer) => {
        const quickText = quick && (layer === 'bridge' ? bridgeQuickRemoveTransaction(path.dev) : quickRemoveTransaction(path, layer, removal!.installedWith));
        if (quickText && (await applies(layer, quickText))) return;
        await removeIn(layer, devs);
      }),
    );
    await removal?.forget();
  });
}

async function installIn(layer: Layer, turn: Turn, path: DevicePath, firewall: VifFirewall, options: InstallOptions): Promise<void> {
  const { dev } = path;
  if (layer === 'bridge') {
    // Removing the checks (level off) needs the bridge table read; installing them does not.
    if (firewall.bridge.length === 0) return apply(layer, bridgeRemoveTransaction(await readBridgeInstalled(), [dev]));
    // With the base chain intact or not read, the device alone: that fails if the table or map is missing.
    if ((await turn.bridgeBaseIntact) !== false && (await applies(layer, bridgeInstallTransaction(dev, firewall.bridge, false)))) return;
    return apply(layer, bridgeInstallTransaction(dev, firewall.bridge));
  }
  const full = async () => restore(layer, installTransaction(await readInstalled(layer), path, layer, firewall.chains[layer], options));
  if (!turn.onRecords) return full();
  // The commit fails if the skeleton is broken or the device was installed after all: read everything and build on that.
  if (!(await applies(layer, installTransaction(ON_RECORDS, path, layer, firewall.chains[layer], options)))) await full();
}

async function removeIn(layer: Layer, devs: readonly IfName[]): Promise<void> {
  const text =
    layer === 'bridge' ? bridgeRemoveTransaction(await readBridgeInstalled(), devs) : removeTransaction(await readInstalled(layer), devs);
  await apply(layer, text);
}

/** Applies a transaction built on a guess about the kernel: false when the kernel refused it, and nothing changed. */
async function applies(layer: Layer, text: string | undefined): Promise<boolean> {
  return apply(layer, text).then(
    () => true,
    () => false,
  );
}

async function apply(layer: Layer, text: string | undefined): Promise<void> {
  if (text === undefined) return;
  await (layer === 'bridge' ? restoreBridge(text) : restore(layer, text));
}
