/**
 * "Did you mean": the known word nearest to a misspelt one, by optimal string alignment
 * distance (a swap of two neighbouring letters counts as one edit, the commonest typo), or the
 * one known word it is a prefix of. Nothing when two are equally near, or when none is near
 * enough to be a guess rather than noise.
 */
export function suggest(word: string, known: readonly string[]): string | undefined {
  // Bounded: an argument can be any length, and the distance costs length × length.
  if (word.length === 0 || word.length > MAX_TOKEN) return undefined;
  const lower = word.toLowerCase();
  const prefixed = known.filter((k) => lower.length >= 2 && k.startsWith(lower));
  if (prefixed.length === 1) return prefixed[0];
  const allowed = lower.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = allowed + 1;
  let tie = false;
  for (const k of known) {
    const d = distance(lower, k);
    if (d < bestDistance) [best, bestDistance, tie] = [k, d, false];
    else if (d === bestDistance) tie = true;
  }
  return best !== undefined && !tie ? best : undefined;
}

const MAX_TOKEN = 40;

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function distance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number) => rows[i]![j]!;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, at(i - 2, j - 2) + 1);
      rows[i]![j] = d;
    }
  return at(a.length, b.length);
}

/** `: did you mean "status"?`, or nothing. */
export function didYouMean(word: string, known: readonly string[], show: (k: string) => string = (k) => `"${k}"`): string {
  const s = suggest(word, known);
  return s === undefined ? '' : `: did you mean ${show(s)}?`;
}
