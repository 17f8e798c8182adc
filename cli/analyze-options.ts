/**
 * `cna analyze` flags: raw flag values → a validated, fully-resolved options object. Everything
 * that can be checked without the model is checked here, before the checkpoint is loaded;
 * `--head` is range-checked against the model in analyze.ts.
 */
import {
  DEFAULT_SAMPLE,
  DEFAULT_TEMPLATE,
  EXECUTION_PROVIDERS,
  parseDigits,
  parseOperator,
  parseTemplate,
} from "../core/index.ts";
import type { DigitRange, Operator, TemplateId } from "../core/index.ts";
import { ANALYSES, DEFAULT_KS } from "../worker/index.ts";
import type { AnalysisName, Provider, TargetRule } from "../worker/index.ts";
import { HELP_FLAG, asUsage, choice, headFlag, integerFlag, integerListFlag, stringFlag } from "./args.ts";
import type { FlagSpec, FlagValues } from "./args.ts";
import { UsageError } from "./errors.ts";
import type { HeadRef } from "../core/index.ts";

const TARGETS: readonly TargetRule[] = ["predicted", "correct"];

export const ANALYZE_FLAGS: readonly FlagSpec[] = [
  {
    name: "model",
    value: "DIR",
    required: true,
    help: "checkpoint directory (config.json, model.safetensors, tokenizer.json); its name names the model",
  },
  { name: "op", value: "OP", required: true, help: 'operator: "+", "-", "*" or "/" (quote "*" in the shell)' },
  { name: "digits", value: "N", required: true, help: "digit range: 1, 2 or 3 (or 1D, 2D, 3D)" },
  { name: "template", value: "T", help: `prompt template 1-4 (default ${DEFAULT_TEMPLATE}, "{a}+{b}=")` },
  { name: "pairs", value: "FILE", help: "JSON array of [a, b] operand pairs to use instead of sampling" },
  { name: "analysis", value: "NAME", required: true, help: `${ANALYSES.join(" | ")}` },
  {
    name: "head",
    value: "L9H1",
    help: "head to ablate for cna/verify (default: the cell's top head from head ablation)",
  },
  { name: "top", value: "K", help: "neurons kept per case for cna/verify/attribution (default 100)" },
  { name: "target", value: "RULE", help: "token w scored: predicted (the model's top-1, default) or correct" },
  { name: "sample", value: "N|all", help: `pairs sampled for 2D/3D (default ${DEFAULT_SAMPLE}; 1D always uses all)` },
  { name: "seed", value: "S", help: "seed of the pair sample (default 0)" },
  { name: "ks", value: "LIST", help: "verification K values (default 10,20,30,50,99)" },
  { name: "provider", value: "NAME", help: "ONNX Runtime execution provider: cpu (default) or cuda" },
  { name: "threads", value: "N", help: "threads per operator (default: one per core)" },
  { name: "out", value: "FILE", required: true, help: "where to write the rankings JSON (- for stdout)" },
  { name: "quiet", short: "q", help: "no progress or summary on stderr (errors still print)" },
  HELP_FLAG,
];

/** Which analyses each optional flag means something to; elsewhere it is a mistake worth naming. */
const APPLIES_TO: Readonly<Record<string, readonly AnalysisName[]>> = {
  head: ["cna", "verify"],
  top: ["attribution", "cna", "verify"],
  target: ["attribution", "cna", "verify"],
  ks: ["verify"],
};

export interface AnalyzeOptions {
  modelDir: string;
  op: Operator;
  digits: DigitRange;
  template: TemplateId;
  /** null: sample with selectPairs */
  pairsFile: string | null;
  analysis: AnalysisName;
  /** null: the top head from head ablation */
  head: HeadRef | null;
  topK: number | undefined;
  target: TargetRule | undefined;
  sample: number | "all";
  seed: number;
  ks: number[] | undefined;
  provider: Provider;
  /** 0: ONNX Runtime's default */
  intraOpThreads: number;
  outPath: string;
  quiet: boolean;
}

export function resolveAnalyzeOptions(values: FlagValues): AnalyzeOptions {
  const text = (name: string) => stringFlag(values, name);
  const analysis = choice("--analysis", text("analysis")!, ANALYSES);
  for (const [flag, analyses] of Object.entries(APPLIES_TO)) {
    if (text(flag) !== undefined && !analyses.includes(analysis)) {
      throw new UsageError(
        `--${flag}`,
        `--${flag} applies only to --analysis ${analyses.join(", ")} (got --analysis ${analysis})`,
      );
    }
  }
  const pairsFile = text("pairs") ?? null;
  if (pairsFile !== null && (text("sample") !== undefined || text("seed") !== undefined)) {
    throw new UsageError("--pairs", "--pairs lists the pairs itself; it cannot be combined with --sample or --seed");
  }
  const sampleText = text("sample");
  const opt = <T>(name: string, parse: (flag: string, value: string) => T): T | undefined => {
    const v = text(name);
    return v === undefined ? undefined : parse(`--${name}`, v);
  };
  const resolved: AnalyzeOptions = {
    modelDir: text("model")!,
    op: asUsage("--op", () => parseOperator(text("op"), "--op")),
    digits: asUsage("--digits", () => parseDigits(text("digits"), "--digits")),
    template:
      text("template") === undefined
        ? DEFAULT_TEMPLATE
        : asUsage("--template", () => parseTemplate(text("template"), "--template")),
    pairsFile,
    analysis,
    head: opt("head", headFlag) ?? null,
    topK: opt("top", (f, v) => integerFlag(f, v, 1)),
    target: opt("target", (f, v) => choice(f, v, TARGETS)),
    sample:
      sampleText === undefined ? DEFAULT_SAMPLE : sampleText === "all" ? "all" : integerFlag("--sample", sampleText, 1),
    seed: opt("seed", (f, v) => integerFlag(f, v, 0)) ?? 0,
    ks: opt("ks", integerListFlag),
    provider: opt("provider", (f, v) => choice(f, v, EXECUTION_PROVIDERS)) ?? "cpu",
    intraOpThreads: opt("threads", (f, v) => integerFlag(f, v, 1)) ?? 0,
    outPath: text("out")!,
    quiet: values["quiet"] === true,
  };
  // verify keeps max(--top, largest K) neurons per case: a smaller --top would be silently overridden
  const largestK = Math.max(...(resolved.ks ?? DEFAULT_KS));
  if (analysis === "verify" && resolved.topK !== undefined && resolved.topK < largestK) {
    throw new UsageError(
      "--top",
      `--top ${resolved.topK} is below the largest verification K (${largestK}${resolved.ks ? ", from --ks" : ", the default --ks"}): verify keeps each case's top ${largestK} CNA neurons, so give --top ${largestK} or more, or leave --top out`,
    );
  }
  return resolved;
}
