/** One changed line of a diff: `-` only in the old text, `+` only in the new. */
export interface DiffLine {
  readonly sign: '-' | '+';
  readonly text: string;
}

/** The lines that differ between two lists, in order (longest common subsequence; lists are a guest's rules, a few dozen lines). */
export function diffLines(before: readonly string[], after: readonly string[]): DiffLine[] {
  const n = before.length;
  const m = after.length;
  // common[i][j]: length of the longest common subsequence of before[i..] and after[j..].
  const common = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      common[i]![j] = before[i] === after[j] ? common[i + 1]![j + 1]! + 1 : Math.max(common[i + 1]![j]!, common[i]![j + 1]!);
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && before[i] === after[j]) {
      i++;
      j++;
    } else if (i < n && (j === m || common[i + 1]![j]! >= common[i]![j + 1]!)) out.push({ sign: '-', text: before[i++]! });
    else out.push({ sign: '+', text: after[j++]! });
  }
  return out;
}

/** A guest's firewall as its rule words: the lines of its firewall key, and its anti-spoofing level. */
export interface RuleWords {
  readonly lines: readonly string[];
  readonly antispoof: string;
}

/** What changes, in rule words, from one firewall to the other (whitespace inside a line does not count). */
export function ruleWordsDiff(before: RuleWords, after: RuleWords): DiffLine[] {
  const words = (lines: readonly string[]) => lines.map((l) => l.trim().split(/\s+/).join(' '));
  return [
    ...diffLines(words(before.lines), words(after.lines)),
    ...diffLines([`anti-spoofing ${before.antispoof}`], [`anti-spoofing ${after.antispoof}`]),
  ];
}
