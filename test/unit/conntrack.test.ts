import { describe, expect, it } from 'vitest';
import { ROUNDS, untilGone } from '../../src/apply/conntrack.js';

/** A table whose deletes stop at the first entry that expired under them, as `conntrack -D` does. */
function table(entries: string[], expiring: Set<string>) {
  const rounds: string[][] = [];
  return {
    rounds,
    remove: async (pending: readonly string[]) => {
      rounds.push([...pending]);
      for (const e of [...entries]) {
        if (expiring.delete(e)) {
          entries.splice(entries.indexOf(e), 1);
          return [`conntrack: Operation failed: such conntrack doesn't exist`];
        }
        entries.splice(entries.indexOf(e), 1);
      }
      return [];
    },
    list: async () => [...entries],
  };
}

describe('untilGone', () => {
  it('deletes, lists again and retries until nothing is left, and then reports no problem', async () => {
    const t = table(['a', 'b', 'c', 'd'], new Set(['b']));
    expect(await untilGone(['a', 'b', 'c', 'd'], t.remove, t.list)).toEqual({ left: [], errors: [] });
    expect(t.rounds).toEqual([['a', 'b', 'c', 'd'], ['c', 'd']]);
  });

  it(`gives up after ${ROUNDS} rounds and says what is left and why`, async () => {
    const stuck = { remove: async () => ['conntrack: Operation not permitted'], list: async () => ['x'] };
    let rounds = 0;
    const counted = { ...stuck, remove: async () => (rounds++, stuck.remove()) };
    expect(await untilGone(['x'], counted.remove, counted.list)).toEqual({ left: ['x'], errors: ['conntrack: Operation not permitted'] });
    expect(rounds).toBe(ROUNDS);
  });

  it('reports a table it cannot list', async () => {
    const r = await untilGone(['x'], async () => [], async () => Promise.reject(new Error('conntrack: not found')));
    expect(r.errors).toEqual(['conntrack: cannot list what is left: conntrack: not found']);
  });
});
