import { existsSync, readFileSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NewDevice } from '../compile/newDevices.js';
import { parseIfName } from '../ifname.js';
import { effects } from './effects.js';
import { hasRecord, type VifRecord } from './records.js';

/**
 * The install queue: a new device's call leaves its compiled install here while it waits for the
 * lock, and the call holding the lock commits every one it finds with its own, one transaction
 * per layer, then writes their records. In a boot storm the lock is then held once per batch
 * instead of once per guest.
 *
 * A job is a file named after its call (pid and start time), in a directory only root may
 * write to: whatever a job says was written by a hook call (the lock's socket, open to anyone
 * in dom0, carries nothing but wake-ups). Its suffix is its state:
 *   .job      waiting; the call may still take it back, and install alone
 *   .claimed  taken by the call holding the lock, being committed
 *   .done     committed, and recorded: the call goes on to attach the device
 *   .retry    the batch failed and was undone: the call installs alone when its turn comes
 * Anything but .done, once the call has the lock itself (a claimer killed mid-commit leaves
 * .claimed), means that the call installs alone, which builds on whatever the kernel holds.
 */

/** What a call leaves in the queue. */
export interface Job {
  readonly owner: Owner;
  readonly device: NewDevice;
  /** Its record, written by whichever call commits the job. */
  readonly record: Omit<VifRecord, 'appliedAt'>;
}

/** A process, told apart from a later one with the same pid by when it started. */
interface Owner {
  readonly pid: number;
  readonly start: string;
}

/** This call's own job, while it waits. */
export interface OwnJob {
  readonly job: Job;
  /** Whether a call holding the lock committed it (and wrote its record). */
  done(): boolean;
  /** Takes the job back if it still waits: true if it did (nobody else will commit it now). */
  withdraw(): Promise<boolean>;
  /** Removes whatever is left of it; for the end of the call, whatever happened. */
  discard(): Promise<void>;
}

/** A job the call holding the lock took, to commit with its own. */
export interface ClaimedJob {
  readonly job: Job;
  settle(outcome: 'done' | 'retry'): Promise<void>;
}

const STATES = ['job', 'claimed', 'done', 'retry', 'tmp'] as const;
type State = (typeof STATES)[number];

const queueDir = (stateDir: string) => join(stateDir, 'queue');
const fileOf = (stateDir: string, id: string, state: State) => join(queueDir(stateDir), `${id}.${state}`);

/**
 * Leaves this call's job in the queue; undefined in a dry run, or where the queue's directory
 * is not root's alone (then the call installs alone, as it always can).
 */
export async function queueJob(stateDir: string, device: NewDevice, record: Job['record']): Promise<OwnJob | undefined> {
  if (effects().dryRun) return undefined;
  const owner = ownerOf(process.pid);
  if (!owner || !(await safeQueueDir(stateDir, true))) return undefined;
  const id = idOf(owner);
  const job: Job = { owner, device, record };
  await writeFile(fileOf(stateDir, id, 'tmp'), JSON.stringify(job), { mode: 0o600 });
  await rename(fileOf(stateDir, id, 'tmp'), fileOf(stateDir, id, 'job'));
  return {
    job,
    done: () => existsSync(fileOf(stateDir, id, 'done')),
    withdraw: () => rm(fileOf(stateDir, id, 'job')).then(() => true, () => false),
    discard: async () => {
      await Promise.all(STATES.map((s) => rm(fileOf(stateDir, id, s), { force: true })));
    },
  };
}

/**
 * Takes every waiting job that can go with this call's, for the call holding the lock: the
 * job of a call that has died is removed, not committed (libxl runs offline for a call it
 * killed, and that offline must not be followed by an install); a job for a device named
 * already (the caller's own, another job's) or recorded stays for its own call, which then
 * builds on what the kernel holds.
 */
export async function claimJobs(stateDir: string, taken: ReadonlySet<string>): Promise<ClaimedJob[]> {
  if (!(await safeQueueDir(stateDir, false))) return [];
  const devs = new Set(taken);
  const claimed: ClaimedJob[] = [];
  for (const name of (await readdir(queueDir(stateDir))).sort()) {
    const [id, state] = splitName(name);
    if (!id) continue;
    if (!alive(id)) {
      await rm(join(queueDir(stateDir), name), { force: true });
      continue;
    }
    if (state !== 'job') continue;
    const job = await readJob(fileOf(stateDir, id, 'job'));
    if (!job || devs.has(job.device.dev) || hasRecord(stateDir, job.record.vif)) continue;
    // Its call may take it back at this very moment: whoever renames or removes it first wins.
    const claimedFile = fileOf(stateDir, id, 'claimed');
    if (!(await rename(fileOf(stateDir, id, 'job'), claimedFile).then(() => true, () => false))) continue;
    devs.add(job.device.dev);
    claimed.push({ job, settle: (outcome) => rename(claimedFile, fileOf(stateDir, id, outcome)) });
  }
  return claimed;
}

/** The queue's directory exists (or is made, with create) and only root, the owner, can write to it. */
async function safeQueueDir(stateDir: string, create: boolean): Promise<boolean> {
  if (create) {
    // The state dir as writeRecord makes it; the queue inside it root's alone.
    await mkdir(stateDir, { recursive: true });
    await mkdir(queueDir(stateDir), { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
  const st = await lstat(queueDir(stateDir)).catch(() => undefined);
  return !!st && st.isDirectory() && st.uid === process.geteuid?.() && (st.mode & 0o022) === 0;
}

function splitName(name: string): [id: string | undefined, state: State | undefined] {
  const m = /^(\d+-\d+)\.([a-z]+)$/.exec(name);
  const state = STATES.find((s) => s === m?.[2]);
  return m && state ? [m[1], state] : [undefined, undefined];
}

const idOf = ({ pid, start }: Owner) => `${pid}-${start}`;

/** The process with this pid, unless it is gone or a zombie; its start time tells a reused pid apart. */
function ownerOf(pid: number): Owner | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may hold spaces and parentheses): state is the 3rd, starttime the 22nd.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' || !fields[19] ? undefined : { pid, start: fields[19] };
}

function alive(id: string): boolean {
  const pid = Number(id.split('-')[0]);
  const owner = ownerOf(pid);
  return owner !== undefined && idOf(owner) === id;
}

/** A job as its call wrote it; undefined for anything else. */
async function readJob(file: string): Promise<Job | undefined> {
  try {
    const job = JSON.parse(await readFile(file, 'utf8')) as Job;
    const { device, record } = job;
    const lines = [...device.filter[4], ...device.filter[6], ...device.bridge];
    const names = [device.dev, record.dev, record.vif].map((n) => parseIfName(String(n)));
    // A line break would start another command of the transaction.
    if (names.some((n) => !n.ok) || device.dev !== record.dev || lines.some((l) => typeof l !== 'string' || /[\n\r\0]/.test(l))) return undefined;
    if (device.bridge.length === 0) return undefined;
    return job;
  } catch {
    return undefined;
  }
}
