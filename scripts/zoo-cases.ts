/**
 * Tokenizes operand pairs for models/train_real.py with a model directory's own tokenizer
 * (worker/model loadTokenizer) and the engine's case rule (core buildCases, docs/method.md §1), so
 * the real-tokenizer zoo models are trained and measured on exactly the token ids a sweep gives
 * them. Python has no tokenizer library here; this is the one place those ids come from.
 *
 *     node --import tsx scripts/zoo-cases.ts REQUEST.json OUT.json
 *
 * REQUEST: { "modelDir": "models/x", "sets": { "<name>": { "template": 3, "pairs": [["+", 15, 32], ...] } } }
 * OUT:     { "vocabSize", "eosId", "bosIds", "sets": { "<name>": [[promptIds, answerIds, fallback], ...] },
 *            "tokens": { "<id>": "<text the token spells>" } }   (tokens: every id that occurs)
 *
 * promptIds are the first case's prefix and answerIds its targets in order: the case for answer
 * token i has prefix promptIds + answerIds[:i]. fallback is 1 when the pair took the boundary
 * fallback of docs/method.md §1.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { OPERATORS, buildCases } from "../core/index.ts";
import type { OperandPair, Operator, TemplateId } from "../core/index.ts";
import { loadTokenizer } from "../worker/index.ts";

export interface CasesRequest {
  modelDir: string;
  sets: Record<string, { template: number; pairs: Array<[string, number, number]> }>;
}

/** [prompt ids, answer ids, 1 if the pair took the boundary fallback else 0] */
export type PairIds = [number[], number[], 0 | 1];

export interface CasesOut {
  vocabSize: number;
  eosId: number | undefined;
  /** What encode("") gives: the start token(s) the tokenizer adds, if any. */
  bosIds: number[];
  sets: Record<string, PairIds[]>;
  tokens: Record<string, string>;
}

export function tokenizeSets(request: CasesRequest): CasesOut {
  const tokenizer = loadTokenizer(request.modelDir);
  const sets: Record<string, PairIds[]> = {};
  const used = new Set<number>();
  for (const [name, set] of Object.entries(request.sets)) {
    if (![1, 2, 3, 4].includes(set.template))
      throw new Error(`set ${name}: template must be 1-4 (got ${set.template})`);
    const template = set.template as TemplateId;
    const rows: PairIds[] = [];
    for (const [op, a, b] of set.pairs) {
      if (!OPERATORS.includes(op as Operator)) throw new Error(`set ${name}: unknown operator ${JSON.stringify(op)}`);
      const pair: OperandPair = { op: op as Operator, a, b };
      const cases = buildCases([pair], template, tokenizer);
      const first = cases[0]!;
      const answerIds = cases.map((c) => c.target);
      // buildCases' contract, checked rather than assumed: each prefix extends the previous one.
      cases.forEach((c, i) => {
        const expected = [...first.prefixIds, ...answerIds.slice(0, i)];
        if (c.prefixIds.join() !== expected.join())
          throw new Error(`set ${name}: case ${i} of ${a}${op}${b} breaks the prefix rule`);
      });
      for (const id of [...first.prefixIds, ...answerIds]) used.add(id);
      rows.push([first.prefixIds, answerIds, first.boundaryFallback ? 1 : 0]);
    }
    sets[name] = rows;
  }
  if (tokenizer.eosId !== undefined) used.add(tokenizer.eosId);
  const tokens: Record<string, string> = {};
  for (const id of [...used].sort((x, y) => x - y))
    tokens[String(id)] = tokenizer.tokenText(id) ?? tokenizer.decode([id]);
  return { vocabSize: tokenizer.vocabSize, eosId: tokenizer.eosId, bosIds: tokenizer.encode(""), sets, tokens };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [requestPath, outPath] = process.argv.slice(2);
  if (requestPath === undefined || outPath === undefined) {
    process.stderr.write("usage: node --import tsx scripts/zoo-cases.ts REQUEST.json OUT.json\n");
    process.exit(2);
  }
  const out = tokenizeSets(JSON.parse(readFileSync(requestPath, "utf8")) as CasesRequest);
  writeFileSync(outPath, JSON.stringify(out));
}
