/**
 * iptables-save text as data, and the bench's fast pre-install.
 *
 * "M guests already installed" is made with ONE iptables-restore transaction per family
 * that reproduces, rule for rule, the state M calls of the approach itself would leave.
 * What one call installs is not hard-coded here: it is LEARNT from the kernel (the table
 * before and after one real call of the hook or the baseline script, for a template
 * device), then cloned for each background device by renaming the template device. So the
 * pre-install follows the product as src/ changes, and the bench checks (see bench.ts) that
 * the kernel's state after the bulk transaction is the state sequential calls leave.
 */

export interface Table {
  /** Chain → its declaration line (`:NAME POLICY` without counters), in save order. */
  readonly decl: Map<string, string>;
  /** Chain → rule specs (text after `-A NAME `), in order. */
  readonly rules: Map<string, string[]>;
}

/** Parses the *filter part of iptables-save output (counters and comments ignored). */
export function parseSave(text: string): Table {
  const decl = new Map<string, string>();
  const rules = new Map<string, string[]>();
  let inFilter = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\[\d+:\d+\]\s+/, '').trimEnd();
    if (line.startsWith('*')) {
      inFilter = line === '*filter';
      continue;
    }
    if (!inFilter || line === '' || line.startsWith('#') || line === 'COMMIT') continue;
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      decl.set(name!, `:${name} ${policy ?? '-'}`);
      if (!rules.has(name!)) rules.set(name!, []);
      continue;
    }
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (m) {
      const list = rules.get(m[1]!) ?? [];
      list.push(m[2]!);
      rules.set(m[1]!, list);
    }
  }
  return { decl, rules };
}

export function cloneTable(t: Table): Table {
  return { decl: new Map(t.decl), rules: new Map([...t.rules].map(([c, r]) => [c, [...r]])) };
}

export function ruleCount(t: Table): number {
  let n = 0;
  for (const r of t.rules.values()) n += r.length;
  return n;
}

/** One rule a call adds: appended to a chain the call creates, or inserted at `pos` (1-based) in a chain that was there before. */
interface AddedRule {
  readonly chain: string;
  readonly spec: string;
  readonly pos: number | undefined;
}

/** What one call installs, with the template device's name as a placeholder. */
export interface Template {
  readonly dev: string;
  /** Chains the call creates that exist once whatever the number of devices (the hook's dispatch skeleton). */
  readonly sharedChains: readonly string[];
  /** Chains the call creates for its device (names contain the device). */
  readonly devChains: readonly string[];
  readonly sharedRules: readonly AddedRule[];
  readonly devRules: readonly AddedRule[];
}

const has = (text: string, dev: string) => text.split(/[\s]/).some((tok) => tok === dev || tok.endsWith(`-${dev}`));
const rename = (text: string, from: string, to: string) =>
  text
    .split(' ')
    .map((tok) => (tok === from ? to : tok.endsWith(`-${from}`) ? tok.slice(0, -from.length) + to : tok))
    .join(' ');

/**
 * The difference `after` − `before` of one call for device `dev`. Throws when the call
 * removed or reordered anything (a template must be a pure addition).
 */
export function learnTemplate(before: Table, after: Table, dev: string): Template {
  const sharedChains: string[] = [];
  const devChains: string[] = [];
  for (const chain of after.decl.keys()) {
    if (before.decl.has(chain)) continue;
    (has(chain, dev) ? devChains : sharedChains).push(chain);
  }
  const sharedRules: AddedRule[] = [];
  const devRules: AddedRule[] = [];
  for (const [chain, specs] of after.rules) {
    const old = [...(before.rules.get(chain) ?? [])];
    const existed = before.decl.has(chain);
    specs.forEach((spec, i) => {
      if (old[0] === spec) {
        old.shift();
        return;
      }
      const rule = { chain, spec, pos: existed ? i + 1 : undefined };
      (has(chain, dev) || has(spec, dev) ? devRules : sharedRules).push(rule);
    });
    if (old.length > 0) throw new Error(`template for ${dev}: the call removed or moved rules of ${chain}: ${old.join(' | ')}`);
  }
  for (const chain of before.decl.keys())
    if (!after.decl.has(chain)) throw new Error(`template for ${dev}: the call deleted chain ${chain}`);
  return { dev, sharedChains, devChains, sharedRules, devRules };
}

function renamed(t: Template, dev: string): { chains: string[]; rules: AddedRule[] } {
  return {
    chains: t.devChains.map((c) => rename(c, t.dev, dev)),
    rules: t.devRules.map((r) => ({ chain: rename(r.chain, t.dev, dev), spec: rename(r.spec, t.dev, dev), pos: r.pos })),
  };
}

const ruleLine = (r: AddedRule) => (r.pos === undefined ? `-A ${r.chain} ${r.spec}` : `-I ${r.chain} ${r.pos} ${r.spec}`);

/**
 * One `iptables-restore --noflush` transaction that installs `devs` on a table where the
 * template was learnt (none of the template's chains present), as calls for devs[0],
 * devs[1], … in that order would.
 */
export function bulkTransaction(t: Template, devs: readonly string[]): string {
  const lines = ['*filter'];
  if (devs.length > 0) for (const c of t.sharedChains) lines.push(`:${c} - [0:0]`);
  const perDev = devs.map((d) => renamed(t, d));
  for (const d of perDev) for (const c of d.chains) lines.push(`:${c} - [0:0]`);
  if (devs.length > 0) for (const r of t.sharedRules) lines.push(ruleLine(r));
  for (const d of perDev) for (const r of d.rules) lines.push(ruleLine(r));
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** The same thing in memory: what the table must look like once `devs` are installed on `base`. */
export function applyTemplate(base: Table, t: Template, devs: readonly string[]): Table {
  const out = cloneTable(base);
  if (devs.length === 0) return out;
  const add = (chain: string) => {
    out.decl.set(chain, `:${chain} -`);
    out.rules.set(chain, []);
  };
  const put = (r: AddedRule) => {
    const list = out.rules.get(r.chain);
    if (!list) throw new Error(`applyTemplate: no chain ${r.chain}`);
    if (r.pos === undefined) list.push(r.spec);
    else list.splice(r.pos - 1, 0, r.spec);
  };
  for (const c of t.sharedChains) add(c);
  const perDev = devs.map((d) => renamed(t, d));
  for (const d of perDev) for (const c of d.chains) add(c);
  for (const r of t.sharedRules) put(r);
  for (const d of perDev) for (const r of d.rules) put(r);
  return out;
}

const DEVICE = /vif\d+\.\d+/;

/**
 * A comparable form of a table in which the order of the rules of different devices in a
 * shared chain (FORWARD, the dispatch chains) does not matter — it depends on which of
 * parallel calls ran first, and each such rule matches one device only — while the order
 * of everything else does: the rules of a device's own chains, and the rules of a shared
 * chain that are not about one device (the skeleton, other tools' rules).
 */
export function canonical(t: Table): string {
  const out: string[] = [];
  for (const chain of [...t.decl.keys()].sort()) {
    out.push(t.decl.get(chain)!);
    const specs = t.rules.get(chain) ?? [];
    if (DEVICE.test(chain)) {
      for (const s of specs) out.push(`-A ${chain} ${s}`);
      continue;
    }
    const fixed = specs.filter((s) => !DEVICE.test(s));
    const perDevice = specs.filter((s) => DEVICE.test(s)).sort();
    for (const s of fixed) out.push(`-A ${chain} ${s}`);
    for (const s of perDevice) out.push(`-A ${chain} ${s}     (any order)`);
  }
  return out.join('\n');
}

/** Exact form (order kept everywhere), for comparing sequential installs with a bulk one. */
export function exact(t: Table): string {
  const out: string[] = [];
  for (const chain of [...t.decl.keys()].sort()) {
    out.push(t.decl.get(chain)!);
    for (const s of t.rules.get(chain) ?? []) out.push(`-A ${chain} ${s}`);
  }
  return out.join('\n');
}

/** First differing line of two renderings, for a short error message. */
export function firstDifference(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++)
    if (x[i] !== y[i]) return `line ${i + 1}: expected ${JSON.stringify(x[i] ?? '<end>')}, got ${JSON.stringify(y[i] ?? '<end>')}`;
  return 'identical';
}

/** True when the call installed nothing in this family (the baseline's IPv6). */
export function isEmptyTemplate(t: Template): boolean {
  return t.sharedChains.length + t.devChains.length + t.sharedRules.length + t.devRules.length === 0;
}
