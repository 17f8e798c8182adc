/**
 * Versions that decide whether stored results can be reused. Both are part of every shard's
 * identity, so results computed under an older definition are never merged with newer ones:
 * - RESULT_FORMAT_VERSION: the layout of a shard's partial result (what the merge reads). Raise
 *   it when a partial gains, loses or reinterprets a field.
 * - METHOD_VERSION: what is computed (the documented method: cases, ablation, importance, CNA,
 *   verification). Raise it when a definition changes even if the layout does not.
 */
/** 2: attribution partials carry each neuron's coefficient sum (`coefSum`). */
export const RESULT_FORMAT_VERSION = 2;
export const METHOD_VERSION = 1;
