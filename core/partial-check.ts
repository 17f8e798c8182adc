/**
 * The shape of a reported partial result, checked before it is stored: a result that decodes but
 * is not a partial of its kind (a missing array, a length that does not fit its model's dims, a
 * number that is not finite) would be stored as the shard's one copy and then break the cell's
 * merge. Refused here, it never reaches the store. Pure: returns the field at fault, or null.
 */
type Fields = Record<string, unknown>;

const isObject = (v: unknown): v is Fields => typeof v === "object" && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min = 0): v is number => Number.isSafeInteger(v) && (v as number) >= min;
const isNumber = (v: unknown): boolean => typeof v === "number" && Number.isFinite(v);

function numbers(v: unknown, length: number | null, integers = false): boolean {
  if (!Array.isArray(v) || (length !== null && v.length !== length)) return false;
  for (const x of v) if (!(integers ? isInt(x) : isNumber(x))) return false;
  return true;
}

/** What is wrong with `value` as a partial of `kind` — a field path and why — or null when nothing is. */
export function partialProblem(value: unknown, kind: string): string | null {
  if (!isObject(value)) return "the result is not a JSON object";
  if (value.kind !== kind) return `kind is ${JSON.stringify(value.kind)}, not ${JSON.stringify(kind)}`;
  const dims = value.dims;
  if (!isObject(dims) || !isInt(dims.nLayer, 1) || !isInt(dims.nHead, 1) || !isInt(dims.dMlp, 1))
    return "dims must be { nLayer, nHead, dMlp }, positive integers";
  const [L, H, F] = [dims.nLayer, dims.nHead, dims.dMlp];
  const need = (fields: Array<[string, (v: unknown) => boolean, string]>): string | null => {
    for (const [field, ok, what] of fields) if (!ok(value[field])) return `${field} must be ${what}`;
    return null;
  };
  const count = (v: unknown) => isInt(v);
  const head = (v: unknown) => isObject(v) && isInt(v.layer) && isInt(v.head) && v.layer < L && v.head < H;
  const perLH = (v: unknown) => numbers(v, L * H);
  const perLF = (v: unknown) => numbers(v, L * F);
  if (kind !== "top-tokens") {
    const common = need([
      ["cases", count, "an integer ≥ 0"],
      ["boundaryFallbacks", (v) => v === undefined || count(v), "an integer ≥ 0 when present"],
    ]);
    if (common) return common;
  }
  switch (kind) {
    case "head-ablation":
      return need([
        ["baselineCorrect", count, "an integer ≥ 0"],
        ["baselineProbSum", isNumber, "a finite number"],
        ["correct", perLH, `${L * H} finite numbers ([layer, head])`],
        ["probSum", perLH, `${L * H} finite numbers ([layer, head])`],
      ]);
    case "attribution":
      return need([
        ["baselineCorrect", count, "an integer ≥ 0"],
        ["topK", count, "an integer ≥ 0"],
        ...(["impSum", "coefSum", "topKCount"] as const).map(
          (f) => [f, perLF, `${L * F} finite numbers ([layer, neuron])`] as [string, (v: unknown) => boolean, string],
        ),
        ["attnLayerSum", (v) => numbers(v, L), `${L} finite numbers ([layer])`],
        ["ffnLayerSum", (v) => numbers(v, L), `${L} finite numbers ([layer])`],
        ["headSum", perLH, `${L * H} finite numbers ([layer, head])`],
      ]);
    case "cna":
      return need([
        ["baselineCorrect", count, "an integer ≥ 0"],
        ["ablatedHead", head, `a head { layer, head } of this ${L}-layer, ${H}-head model`],
        ["topK", count, "an integer ≥ 0"],
        ...(["impOrigSum", "impAblatedSum", "cnaSum", "coefOrigSum", "coefAblatedSum", "topKCount"] as const).map(
          (f) => [f, perLF, `${L * F} finite numbers ([layer, neuron])`] as [string, (v: unknown) => boolean, string],
        ),
        [
          "perCase",
          (v) =>
            Array.isArray(v) &&
            v.every(
              (c) =>
                isObject(c) &&
                isInt(c.caseId) &&
                numbers(c.neurons, null, true) &&
                (c.neurons as number[]).every((n) => n < L * F) &&
                numbers(c.scores, (c.neurons as number[]).length),
            ),
          "a list of { caseId, neurons, scores } with neurons < nLayer·dMlp and a score per neuron",
        ],
      ]);
    case "verify": {
      const ks = value.ks;
      const n = Array.isArray(ks) ? ks.length : 0;
      return need([
        ["baselineCorrect", count, "an integer ≥ 0"],
        ["ablatedHead", head, `a head { layer, head } of this ${L}-layer, ${H}-head model`],
        ["ks", (v) => numbers(v, null, true), "a list of integers ≥ 0"],
        ["seed", count, "an integer ≥ 0"],
        ["mask", (v) => numbers(v, n), `${n} finite numbers (one per k)`],
        ["keep", (v) => numbers(v, n), `${n} finite numbers (one per k)`],
        ["random", (v) => numbers(v, n), `${n} finite numbers (one per k)`],
      ]);
    }
    case "top-tokens": {
      const neuron = (x: unknown) =>
        isObject(x) &&
        isInt(x.layer) &&
        isInt(x.neuron) &&
        x.layer < L &&
        x.neuron < F &&
        (x.sign === 1 || x.sign === -1) &&
        Array.isArray(x.tokens) &&
        x.tokens.every((t) => typeof t === "string");
      const list = (v: unknown) => Array.isArray(v) && v.every(neuron);
      const what = "a list of { layer, neuron, sign: 1 or -1, tokens: strings } of this model";
      return need([
        ["cna", list, what],
        ["attribution", list, what],
      ]);
    }
    default:
      return `kind ${JSON.stringify(kind)} is not a stage`;
  }
}
