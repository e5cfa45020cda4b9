import { bridgeInstallTransaction, bridgeNewDevicesTransaction, bridgeQuickRemoveTransaction, bridgeRemoveTransaction } from '../compile/bridge.js';
import type { VifFirewall } from '../compile/firewall.js';
import { newDevicesLayer, type NewDevice } from '../compile/newDevices.js';
import {
  installTransaction,
  newDeviceLines,
  newDevicesTransaction,
  quickRemoveTransaction,
  removeTransaction,
  type DevicePath,
  type InstallOptions,
} from '../compile/transaction.js';
import type { IfName } from '../ifname.js';
import { narrate } from './effects.js';
import { acquireLock, withLock, type Release } from './lock.js';
import { readBridgeBaseIntact, readBridgeInstalled, readInstalled, restore, restoreBridge } from './netfilter.js';
import { claimJobs, type OwnJob } from './queue.js';
import { countRecords, writeRecord } from './records.js';

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
 * guests). Below, and for reload and repair always, listing it costs one process, and lets the
 * install repair a base chain someone broke. online lists it once it holds the lock, alongside
 * the filter tables' transactions, so that a call whose install another call commits (a boot
 * storm's most) never runs it; reload and repair list it while they wait for the lock.
 */
const LARGE_FROM = 50;

/** The hook's lock, held, and how the install builds its transactions. */
export interface Turn {
  readonly stateDir: string;
  /**
   * Build on the records instead of reading the filter tables: a device most likely new
   * (online, not reload) on a host where other devices are installed. A wrong guess fails the
   * commit, and the layer reads its table and tries again.
   */
  readonly onRecords: boolean;
  /**
   * Whether the bridge table's base chain is as we make it (then an install leaves it alone), or
   * undefined: not read (a large table, trusted). A chain broken between the read and the commit
   * is no likelier than one broken just after the commit, which only status sees and repair mends.
   */
  readonly bridgeBaseIntact: Promise<boolean> | undefined;
  readonly release: Release;
}

/** What online's wait for the lock ends in when another call committed its queued job meanwhile. */
export const SERVED = { kind: 'served' } as const;
export type Served = typeof SERVED;
export const isServed = (t: Turn | Served): t is Served => t === SERVED;

/**
 * Takes the lock, for reload and repair: where every install starts. The filter tables are not
 * read here: each layer reads what it must (if anything) on its own, so no layer waits for
 * another's read. The bridge base chain is always listed: on a large host reload and repair
 * are where a broken one is mended.
 */
export async function takeTurn(locking: Locking): Promise<Turn> {
  const bridgeBaseIntact = readBase();
  return { stateDir: locking.stateDir, onRecords: false, bridgeBaseIntact, release: await acquireLock(locking.stateDir, locking.timeoutSeconds) };
}

/**
 * Takes the lock for online, which asks for it while it still compiles, and leaves its job in
 * the queue once compiled (job: undefined until then, and for a device that cannot be queued).
 * Ends in SERVED, without the lock, as soon as the call holding the lock has committed the job.
 */
export async function queueForTurn(locking: Locking, job: () => OwnJob | undefined): Promise<Turn | Served> {
  const { stateDir } = locking;
  const served = () => job()?.done() ?? false;
  const release = await acquireLock(stateDir, locking.timeoutSeconds, served);
  if (!release || served()) {
    await release?.();
    return SERVED;
  }
  // Counted under the lock: in a boot storm the first guest's record comes while the others wait.
  // A measure of the tables' size, not a promise about them: every guess is checked by the commit.
  const devices = await countRecords(stateDir);
  // With no record there is most likely no skeleton either: a commit on the records would fail.
  return { stateDir, onRecords: devices > 0, bridgeBaseIntact: devices < LARGE_FROM ? readBase() : undefined, release };
}

function readBase(): Promise<boolean> {
  const intact = readBridgeBaseIntact();
  intact.catch(() => undefined); // awaited by the install; must not count as unhandled before
  return intact;
}

/** A new device's install, compiled to be committed with others', and its job if it was queued. */
export interface Batchable {
  readonly device: NewDevice;
  readonly job: OwnJob | undefined;
}

/**
 * Installs (or replaces) one device's firewall, one transaction per layer, then gives the
 * turn back. If one layer's transaction fails, those that went through are undone, so the
 * call changes nothing at all. A device that can be batched is first committed together with
 * every job waiting in the queue (commitQueue). Resolves with how many other devices' jobs
 * it committed.
 */
export async function installFirewall(turn: Turn, path: DevicePath, firewall: VifFirewall, options: InstallOptions, batch?: Batchable): Promise<number> {
  try {
    const committed = batch ? await commitQueue(turn, batch) : 0;
    if (committed > 0) return committed;
    const results = await Promise.allSettled(LAYERS.map((layer) => installIn(layer, turn, path, firewall, options)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return 0;
    await undoIn(LAYERS.filter((_, i) => results[i]!.status === 'fulfilled'), [path.dev]);
    throw failed.reason;
  } finally {
    await turn.release();
  }
}

/**
 * Commits the call's own device with every job waiting in the queue, one transaction per layer,
 * and writes the others' records; how many others it committed. None (and the call installs
 * alone) when the call's own job was not waiting any more, when there is no record to build on,
 * when nobody else waits, or when the batch failed: then every layer that went through is
 * undone (each added only these new devices) and the others install alone at their turn.
 */
async function commitQueue(turn: Turn, { device, job }: Batchable): Promise<number> {
  if ((job && !(await job.withdraw())) || !turn.onRecords) return 0;
  const others = await claimJobs(turn.stateDir, new Set([device.dev]));
  if (others.length === 0) return 0;
  const devices = [device, ...others.map((o) => o.job.device)];
  // The bridge layer waits for the base chain's listing (if any), and repairs a broken one; the others do not wait.
  const repairBase = async (layer: Layer) => layer === 'bridge' && (await turn.bridgeBaseIntact) === false;
  const results = await Promise.allSettled(LAYERS.map(async (layer) => apply(layer, newDevicesLayer(layer, devices, await repairBase(layer)))));
  const ok = results.every((r) => r.status === 'fulfilled');
  if (ok) {
    const appliedAt = new Date().toISOString();
    await Promise.all(others.map((o) => writeRecord(turn.stateDir, { ...o.job.record, appliedAt })));
    narrate(`committed with the queued installs of ${others.map((o) => o.job.device.dev).join(', ')}`);
  } else {
    await undoIn(LAYERS.filter((_, i) => results[i]!.status === 'fulfilled'), devices.map((d) => d.dev));
    narrate(`the queued installs failed together and were undone; each installs alone`);
  }
  await Promise.all(others.map((o) => o.settle(ok ? 'done' : 'retry')));
  return ok ? others.length : 0;
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
    // With the base chain intact or not read, the device alone: that fails if the table or map is missing, or the device has checks already.
    if ((await turn.bridgeBaseIntact) !== false && (await applies(layer, bridgeNewDevicesTransaction([{ dev, body: firewall.bridge }])))) return;
    return apply(layer, bridgeInstallTransaction(dev, firewall.bridge));
  }
  const full = async () => restore(layer, installTransaction(await readInstalled(layer), path, layer, firewall.chains[layer], options));
  if (!turn.onRecords) return full();
  // The commit fails if the skeleton is broken or the device was installed after all: read everything and build on that.
  if (!(await applies(layer, newDevicesTransaction([newDeviceLines(path, layer, firewall.chains[layer], options)])))) await full();
}

async function undoIn(layers: readonly Layer[], devs: readonly IfName[]): Promise<void> {
  await Promise.allSettled(layers.map((layer) => removeIn(layer, devs)));
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
