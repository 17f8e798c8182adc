/**
 * Versions that decide whether stored results can be reused. Both are part of every shard's
 * identity, so results computed under an older definition are never merged with newer ones:
 * - RESULT_FORMAT_VERSION: the layout of a shard's partial result (what the merge reads). Raise
 *   it when a partial gains, loses or reinterprets a field.
 * - METHOD_VERSION: what is computed (the documented method: cases, ablation, importance, CNA,
 *   verification). Raise it when a definition changes even if the layout does not.
 */
/**
 * 2: attribution partials carry each neuron's coefficient sum (`coefSum`).
 *
 * The top-tokens stage (a partial of its own kind, `top-tokens`) raised neither version: the
 * shards and partials of the other stages kept their content and layout, so their stored
 * results stay valid under their ids, and a top-tokens shard has an id no earlier shard had.
 */
export const RESULT_FORMAT_VERSION = 2;
export const METHOD_VERSION = 1;
