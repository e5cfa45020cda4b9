import type { Where } from '../errors.js';

/** A value of the xl domain config language (libxlu): a string, a number or a list of values. */
export type XlValue =
  | { readonly kind: 'string'; readonly value: string; readonly at: Where }
  | { readonly kind: 'number'; readonly value: number; readonly text: string; readonly at: Where }
  | { readonly kind: 'list'; readonly items: readonly XlValue[]; readonly at: Where };

export interface XlSetting {
  readonly key: string;
  readonly value: XlValue;
  /** Position of the key. */
  readonly at: Where;
}

/** A parsed xl config file. As in libxlu, a key set twice keeps its last value. */
export interface XlConfig {
  readonly file: string;
  readonly settings: ReadonlyMap<string, XlSetting>;
  /** Settings a later `key = …` of the same key replaced, in file order (`check` warns of them). */
  readonly replaced: readonly XlSetting[];
}
