import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { lockName } from '../../src/apply/lock.js';
import { HOOK, type HookWorld } from './hook.js';
import type { FilledVif } from './xenstore.js';

/** Whether the lock of the world's state dir is free right now: a process in its dom0 binds the name, with the node the hook runs on. */
export async function lockFree(w: HookWorld): Promise<boolean> {
  const probe = "const s=require('net').createServer();s.on('error',()=>process.exit(1));s.listen({path:'\\0'+process.argv[1]},()=>process.exit(0))";
  const r = await w.dom0.exec('node', ['-e', probe, lockName(w.stateDir).slice(1)], { env: w.xs.env(), extendEnv: false, reject: false, stdin: 'ignore' });
  return r.exitCode === 0;
}

/** A process in the world's dom0 that holds its lock until it is killed (in an object: the process is a thenable). */
export async function holdLock(w: HookWorld) {
  const hold = "require('net').createServer().listen({path:'\\0'+process.argv[1]},()=>console.log('held'))";
  const holder = w.dom0.exec('node', ['-e', hold, lockName(w.stateDir).slice(1)], { env: w.xs.env(), extendEnv: false, reject: false, stdin: 'ignore', buffer: false });
  await new Promise<void>((held, failed) => {
    holder.stdout!.once('data', () => held());
    void holder.then(() => failed(new Error('the lock holder ended')));
  });
  return { holder };
}

/**
 * Starts `online|offline` as libxl does, in its own process group (to wait for its children,
 * see childrenGone); the process comes in an object, since it is a thenable.
 */
export async function startHook(w: HookWorld, command: 'online' | 'offline', vif: FilledVif, extraArgs: readonly string[] = []) {
  const hook = w.dom0.exec(HOOK, [command, 'type_if=vif', ...extraArgs], {
    env: { ...(await w.hookEnv()), VIF_FIREWALL_CONF: w.settingsFile, ...vif.env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    detached: true,
  });
  return { hook, pid: hook.pid! };
}

/**
 * Waits until the processes a killed hook started are gone too. They are not killed (libxl
 * kills the script alone), and until they end, a transaction of the killed call may still commit.
 */
export async function childrenGone(pid: number): Promise<void> {
  for (let waited = 0; ; waited += 5) {
    try {
      process.kill(-pid, 0);
    } catch {
      return;
    }
    if (waited > 10_000) throw new Error(`the children of the killed hook ${pid} still run after 10 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

type Started = Awaited<ReturnType<typeof startHook>>;

/** The jobs waiting in the world's install queue, or in another state (claimed, done, retry). */
export const queued = (w: HookWorld, state: string) => readdirSync(join(w.stateDir, 'queue')).filter((n) => n.endsWith(`.${state}`));

/**
 * Starts online for each domid (with --verbose) while the lock is held elsewhere, waits until
 * every job waits in the queue, then runs drive (by default: let go of the lock) and resolves
 * with how each call ended. drive gets the calls and what lets go of the lock.
 */
export async function queueBehindLock(
  w: HookWorld,
  vifs: ReadonlyMap<number, FilledVif>,
  domids: readonly number[],
  drive: (calls: ReadonlyMap<number, Started>, release: () => Promise<void>) => Promise<void> = (_, release) => release(),
) {
  const { holder } = await holdLock(w);
  const release = async () => {
    holder.kill('SIGKILL');
    await holder;
  };
  const calls = new Map<number, Started>();
  try {
    for (const d of domids) calls.set(d, await startHook(w, 'online', vifs.get(d)!, ['--verbose']));
    for (let waited = 0; queued(w, 'job').length < domids.length; waited += 20) {
      if (waited > 60_000) throw new Error(`only ${queued(w, 'job').length} of ${domids.length} jobs queued after 60 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await drive(calls, release);
  } finally {
    await release();
  }
  return new Map(await Promise.all([...calls].map(async ([d, c]) => [d, await c.hook] as const)));
}
