import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execa } from 'execa';
import { HookError } from '../errors.js';
import { effects, narrate } from './effects.js';

/** Gives a held lock back. */
export type Release = () => Promise<void>;

/**
 * Serialises the read-modify-write of the shared dispatch chains between concurrent
 * hook calls (fifty guests starting at once), with flock(1) as Xen's locking.sh does.
 * Node has no flock(2), so a `flock FILE cat` child holds the lock for us: it echoes our
 * byte once the lock is taken, and gives the lock back when we close its stdin — or when
 * the kernel closes it because libxl SIGKILLed us, so a killed hook never leaves a stale lock.
 */
export async function acquireLock(path: string, timeoutSeconds: number): Promise<Release> {
  // A dry run changes nothing, so it has nothing to serialise (and must not create the state dir).
  if (effects().dryRun) return async () => undefined;
  await mkdir(dirname(path), { recursive: true });
  const holder = execa('flock', ['-x', '-w', String(timeoutSeconds), path, 'cat'], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
  });
  const acquired = new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
  holder.stdin.write('\n');
  const outcome = await Promise.race([acquired.then(() => 'locked' as const), holder.then((r) => r)]);
  if (outcome !== 'locked') {
    throw new HookError(
      outcome.exitCode === 1
        ? `gave up after ${timeoutSeconds} s waiting for the lock ${path} (another vif-firewall call holds it)`
        : `cannot take the lock ${path}: ${String(outcome.stderr).trim() || outcome.shortMessage}`,
    );
  }
  narrate(`locked ${path}`);
  return async () => {
    holder.stdin.end();
    await holder;
  };
}

export async function withLock<T>(path: string, timeoutSeconds: number, body: () => Promise<T>): Promise<T> {
  const release = await acquireLock(path, timeoutSeconds);
  try {
    return await body();
  } finally {
    await release();
  }
}
