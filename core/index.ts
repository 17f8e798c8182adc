/**
 * core — domain code shared by coordinator, worker and CLI. Pure: no I/O, no `node:` imports.
 *
 * @example
 * ```ts
 * import { buildCases, parseOperator, parseDigits, selectPairs } from "../core/index.ts";
 *
 * const op = parseOperator("+");          // throws SpecError (field "op") on bad input
 * const digits = parseDigits("2D");
 * const pairs = selectPairs(op, digits, { sample: 100, seed: 0 }); // seeded, canonical order
 * const cases = buildCases(pairs, 4, tokenizer); // one teacher-forced case per answer token
 * ```
 */
export {
  CnaError,
  ModelChangedError,
  ModelPathError,
  SpecError,
  TokenizationError,
  errorInfo,
  formatAllowed,
  describeValue,
} from "./errors.ts";
export type { CnaErrorOptions, ErrorInfo } from "./errors.ts";

export { mulberry32, fnv1a32, deriveSeed, sampleWithoutReplacement } from "./rng.ts";
export type { Rng } from "./rng.ts";

export {
  OPERATORS,
  DIGIT_RANGES,
  TEMPLATE_IDS,
  TEMPLATES,
  DEFAULT_TEMPLATE,
  DEFAULT_SAMPLE,
  pairCount,
  pairAt,
  operandPairs,
  pairInRange,
  resultOf,
  promptText,
  answerText,
  selectPairs,
  parseOperator,
  parseDigits,
  parseTemplate,
} from "./tasks.ts";
export type { Operator, DigitRange, TemplateId, OperandPair, SelectPairsOptions } from "./tasks.ts";

export { buildCases, countBoundaryFallbacks } from "./cases.ts";
export type { Case, TextEncoderLike } from "./cases.ts";

export { casesOf, mergePartials, mergeAll, withBoundaryFallbacks } from "./partials.ts";
export type {
  PairCounts,
  ModelDims,
  HeadAblationPartial,
  AttributionPartial,
  CnaPartial,
  CaseTopK,
  VerifyPartial,
  CasePartial,
  AnyPartial,
  TopTokensSign,
  SignedNeuron,
  ListedNeurons,
  NeuronTokens,
  TopTokensPartial,
} from "./partials.ts";

export {
  LISTED_NEURONS,
  NOISE_CASES,
  RANKINGS_SCHEMA,
  TOP_TOKENS,
  headRankingBasis,
  ratio,
  rankHeads,
  topIndices,
  rankCnaNeurons,
  rankAttribution,
  rankVerification,
  buildCellRankings,
  coefSign,
  listedNeurons,
  applyTopTokens,
} from "./rankings.ts";
export type {
  CellKey,
  CellPartials,
  HeadRank,
  NeuronRank,
  ImportanceRank,
  AttributionRankings,
  VerificationPoint,
  VerificationRankings,
  CellRankings,
  HeadRankingBasis,
  Rankings,
} from "./rankings.ts";

export {
  SHARD_STAGES,
  STAGES,
  TOP_TOKENS_STAGE,
  changedFiles,
  shardContent,
  canonicalJson,
  ranges,
  shardIdOfMessage,
  shardMessageId,
} from "./shards.ts";
export type { ModelDigest, ShardStage, StageName, ShardCell, ShardTask } from "./shards.ts";

export { MemoryShardQueue } from "./queue.ts";
export type { QueueMessage, ShardQueue, MemoryQueueOptions } from "./queue.ts";

export { encodePartial, decodePartial } from "./sink.ts";
export { partialProblem } from "./partial-check.ts";
export type { ResultSink, ShardReport, ShardFailure } from "./sink.ts";

export { METHOD_VERSION, RESULT_FORMAT_VERSION } from "./versions.ts";

export {
  CNA_TARGETS,
  EXECUTION_PROVIDERS,
  SWEEP_DEFAULTS,
  SWEEP_FIELDS,
  resolveSweep,
  cellsOf,
  checkHeadFits,
  parseHeadRef,
} from "./spec.ts";
export type { CnaTarget, Provider, SweepFile, SweepModel, SweepSpec, ResolveSweepOptions } from "./spec.ts";
export { parseSweep } from "./spec-yaml.ts";
export {
  DEFAULT_SWEEP_LIMITS,
  LIMIT_FLAGS,
  LimitExceededError,
  checkLimit,
  resolveSweepLimits,
  MAX_YAML_DEPTH,
} from "./limits.ts";
export type { SweepLimits } from "./limits.ts";
export { scanYaml } from "./yaml-scan.ts";
export type { YamlScan } from "./yaml-scan.ts";
export type { ParseSweepOptions } from "./spec-yaml.ts";

export type { HeadRef, NeuronRef } from "./heads.ts";
export { headName, neuronName, readHeadName, readNeuronName } from "./heads.ts";

export { LOG_FORMATS, LOG_LEVELS, createLogger, logLevelField, silentLogger } from "./log.ts";
export type { LogFields, LogFormat, LogLevel, Logger, LoggerOptions, LogValue } from "./log.ts";
