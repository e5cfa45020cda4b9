import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { HookError } from '../errors.js';
import { effects, narrate } from './effects.js';

/** Gives a held lock back. */
export type Release = () => Promise<void>;

/**
 * The name of the lock of one state dir: an abstract Unix socket. Holding the lock is having
 * that name bound. The kernel frees the name when the holder's socket closes, which it does
 * however the holder ends (libxl SIGKILLs a hook after 40 s), so a killed hook never leaves a
 * stale lock, and no process has to hold the lock for us. Abstract names are per network
 * namespace, as the tables the lock guards are.
 *
 * Node.js built on libuv before 1.46 (Node 18's) binds every abstract name as the same one
 * (the bytes after the leading NUL are dropped): there, every state dir of a network
 * namespace shares one lock, which only serialises calls that need not be.
 */
export function lockName(stateDir: string): string {
  return `\0vif-firewall-${fnv1a(resolve(stateDir), 0x811c9dc5)}${fnv1a(resolve(stateDir), 0x01000193)}`;
}

/**
 * Serialises the read-modify-write of the shared dispatch chains between concurrent hook
 * calls (fifty guests starting at once). A call that finds the name bound connects to the
 * holder and waits for that connection to close: the holder closes it when it gives the lock
 * back, the kernel when the holder dies. Then every waiter tries to bind again and one wins:
 * no queue, so no order among waiters, but no waiter sleeps while the lock is free.
 */
export async function acquireLock(stateDir: string, timeoutSeconds: number): Promise<Release> {
  // A dry run changes nothing, so it has nothing to serialise.
  if (effects().dryRun) return async () => undefined;
  const name = lockName(stateDir);
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (let refused = 0; ; ) {
    const held = await bind(name);
    if (held) {
      narrate(`locked ${describe(stateDir)}`);
      return held;
    }
    const left = deadline - Date.now();
    if (left <= 0)
      throw new HookError(`gave up after ${timeoutSeconds} s waiting for the lock ${describe(stateDir)} (another vif-firewall call holds it)`);
    // Refused: the holder gave the lock back between our bind and our connect (try again at
    // once), or the name is bound by something that does not listen (back off, up to 20 ms).
    if ((await holderGone(name, left)) === 'refused') await sleep(Math.min(20, 2 ** refused++) * Math.random());
    else refused = 0;
  }
}

export async function withLock<T>(stateDir: string, timeoutSeconds: number, body: () => Promise<T>): Promise<T> {
  const release = await acquireLock(stateDir, timeoutSeconds);
  try {
    return await body();
  } finally {
    await release();
  }
}

function describe(stateDir: string): string {
  return `of ${stateDir} (abstract socket @${lockName(stateDir).slice(1)})`;
}

/** The lock, held, or undefined when the name is bound already. */
function bind(name: string): Promise<Release | undefined> {
  return new Promise((done, fail) => {
    const waiters = new Set<Socket>();
    const server: Server = createServer((s) => {
      waiters.add(s);
      s.on('error', () => undefined).on('close', () => waiters.delete(s));
    });
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') done(undefined);
      else fail(new HookError(`cannot take the lock (abstract socket @${name.slice(1)}): ${e.message}`));
    });
    server.listen({ path: name }, () =>
      done(async () => {
        // Closing the listener frees the name; closing each waiter's connection wakes it.
        server.close();
        for (const s of waiters) s.destroy();
      }),
    );
  });
}

/** Connects to the holder and resolves when it lets go ('gone'), at once when nothing listens ('refused'), or after ms. */
function holderGone(name: string, ms: number): Promise<'gone' | 'refused' | 'timeout'> {
  return new Promise((done) => {
    let connected = false;
    const socket = createConnection({ path: name });
    const timer = setTimeout(() => {
      socket.destroy();
      done('timeout');
    }, ms);
    socket.on('connect', () => (connected = true));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      done(connected ? 'gone' : 'refused');
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** 32-bit FNV-1a of a string's UTF-16 units, as 8 hex digits: a short name for any path. */
function fnv1a(text: string, seed: number): string {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}
