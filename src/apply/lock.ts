import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { HookError } from '../errors.js';
import { effects, narrate } from './effects.js';
import { boostPriority } from './priority.js';

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
 * How long a waiter told to let another go first waits for that one to take the lock before it
 * competes for it itself: only a successor killed between its turn and its bind costs this.
 */
const HANDOVER_PATIENCE_MS = 500;

/**
 * Serialises the read-modify-write of the shared dispatch chains between concurrent hook
 * calls (a hundred guests starting at once), first come, first served.
 *
 * A call that finds the name bound connects to the holder and sends its ticket: when it first
 * asked (the system-wide monotonic clock) and its pid. On release the holder frees the name,
 * tells the waiter with the oldest ticket "go" and every other one "wait", and closes their
 * connections. The one told to go binds at once; the others connect to it (sending the same
 * ticket, so the queue keeps its order from holder to holder) and bind themselves only if
 * nobody has taken the name within HANDOVER_PATIENCE_MS. A waiter whose holder closes without a
 * word (killed) competes at once. Mutual exclusion rests on bind alone; the tickets only decide
 * who tries, so a call arriving just as the lock changes hands can go first once, never twice.
 */
export function acquireLock(stateDir: string, timeoutSeconds: number): Promise<Release>;
/**
 * leaveIf: whether the call needs the lock no more (another call did its work); asked each time
 * the holder lets go and the call was not told to go (the one told to go takes the lock, or the
 * queue would stall). Then the call leaves the queue: undefined.
 */
export function acquireLock(stateDir: string, timeoutSeconds: number, leaveIf: () => boolean): Promise<Release | undefined>;
export async function acquireLock(stateDir: string, timeoutSeconds: number, leaveIf?: () => boolean): Promise<Release | undefined> {
  // A dry run changes nothing, so it has nothing to serialise.
  if (effects().dryRun) return async () => undefined;
  const unboost = boostPriority();
  try {
    const held = await takeName(stateDir, timeoutSeconds, leaveIf ?? (() => false));
    if (!held) {
      unboost();
      return undefined;
    }
    narrate(`locked ${describe(stateDir)}`);
    return async () => {
      await held();
      unboost();
    };
  } catch (e) {
    unboost();
    throw e;
  }
}

/** Waits in the queue until it binds the lock's name: the lock held; undefined if it left; or a HookError after timeoutSeconds. */
async function takeName(stateDir: string, timeoutSeconds: number, leaveIf: () => boolean): Promise<Release | undefined> {
  const name = lockName(stateDir);
  const ticket = `${process.hrtime.bigint()} ${process.pid}`;
  const deadline = Date.now() + timeoutSeconds * 1000;
  let deferUntil = 0; // while told to wait: when to stop deferring to the successor
  for (let refused = 0; ; ) {
    if (Date.now() >= deferUntil) {
      const held = await bind(name);
      if (held) return held;
    }
    const left = deadline - Date.now();
    if (left <= 0)
      throw new HookError(`gave up after ${timeoutSeconds} s waiting for the lock ${describe(stateDir)} (another vif-firewall call holds it)`);
    const heard = await holderLetGo(name, ticket, left);
    if (heard !== 'go' && leaveIf()) return undefined;
    if (heard === 'refused') {
      // Nobody listens: the successor has not bound yet, or the holder let go between our bind
      // and our connect. Back off a little (up to 20 ms) and look again.
      await sleep(Math.min(20, 2 ** refused++) * (deferUntil ? 1 : Math.random()));
      continue;
    }
    refused = 0;
    deferUntil = heard === 'wait' ? Date.now() + HANDOVER_PATIENCE_MS : 0;
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

/** A waiter's place in the queue: when it first asked, then its pid. */
function ticketOrder(a: string, b: string): number {
  const [ta, pa] = a.split(' ').map(BigInt) as [bigint, bigint];
  const [tb, pb] = b.split(' ').map(BigInt) as [bigint, bigint];
  return ta !== tb ? (ta < tb ? -1 : 1) : pa < pb ? -1 : pa > pb ? 1 : 0;
}

const TICKET = /^\d{1,30} \d{1,10}$/;

/** The lock, held, or undefined when the name is bound already. */
function bind(name: string): Promise<Release | undefined> {
  return new Promise((done, fail) => {
    const waiters = new Map<Socket, string | undefined>();
    const server: Server = createServer((s) => {
      waiters.set(s, undefined);
      let said = '';
      s.setEncoding('latin1');
      s.on('data', (chunk: string) => {
        said = (said + chunk).slice(0, 64);
        const line = said.split('\n', 2);
        if (line.length === 2 && TICKET.test(line[0]!)) waiters.set(s, line[0]);
      });
      s.on('error', () => undefined).on('close', () => waiters.delete(s));
    });
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') done(undefined);
      else fail(new HookError(`cannot take the lock (abstract socket @${name.slice(1)}): ${e.message}`));
    });
    server.listen({ path: name }, () =>
      done(async () => {
        // Free the name first (close is synchronous), so that the one told to go finds it free.
        server.close();
        // A waiter whose ticket has not arrived yet ranks after those whose has, in the
        // order it connected; someone is always told to go, so the lock never idles.
        const next = [...waiters].sort(([, a], [, b]) => (a && b ? ticketOrder(a, b) : a ? -1 : b ? 1 : 0))[0]?.[0];
        for (const s of waiters.keys()) s.end(s === next ? 'go\n' : 'wait\n');
      }),
    );
  });
}

/**
 * Queues at the holder with our ticket and resolves with what it said when it let go: 'go'
 * (our turn), 'wait' (another's), 'gone' (closed without a word: killed); or 'refused' at once
 * when nothing listens, 'gone' after ms.
 */
function holderLetGo(name: string, ticket: string, ms: number): Promise<'go' | 'wait' | 'gone' | 'refused'> {
  return new Promise((done) => {
    let connected = false;
    let heard = '';
    const socket = createConnection({ path: name });
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.setEncoding('latin1');
    socket.on('connect', () => {
      connected = true;
      socket.write(`${ticket}\n`);
    });
    socket.on('data', (chunk: string) => (heard = (heard + chunk).slice(0, 8)));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      done(!connected ? 'refused' : heard === 'go\n' ? 'go' : heard === 'wait\n' ? 'wait' : 'gone');
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
