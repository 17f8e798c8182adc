/**
 * The arithmetic tasks of docs/method.md §1: operators, digit ranges, operand pairs, prompt
 * templates and answers. models/arith.py implements the same rules independently in Python;
 * the golden fixtures prove the two agree, so any change here must change both.
 */
import { SpecError, describeValue, formatAllowed } from "./errors.ts";
import { deriveSeed, mulberry32, sampleWithoutReplacement } from "./rng.ts";

export type Operator = "+" | "-" | "*" | "/";
export type DigitRange = 1 | 2 | 3;
export type TemplateId = 1 | 2 | 3 | 4;

export const OPERATORS: readonly Operator[] = ["+", "-", "*", "/"];
export const DIGIT_RANGES: readonly DigitRange[] = [1, 2, 3];
export const TEMPLATE_IDS: readonly TemplateId[] = [1, 2, 3, 4];
/** Template 4 ("{a}+{b}=") is the paper's default and the one its per-digit tables use. */
export const DEFAULT_TEMPLATE: TemplateId = 4;
/** Pairs sampled per 2D/3D cell unless the spec says otherwise (docs/method.md §1). */
export const DEFAULT_SAMPLE = 100;

/** The paper's four templates per operator, verbatim; index = template id - 1. */
export const TEMPLATES: Readonly<Record<Operator, readonly [string, string, string, string]>> = {
  "+": ["The sum of {a} and {b} is", "Q: What is {a} plus {b}? A:", "{a} plus {b} is", "{a}+{b}="],
  "-": ["The difference between {a} and {b} is", "Q: What is {a} minus {b}? A:", "{a} minus {b} is", "{a}-{b}="],
  "*": ["The product of {a} and {b} is", "Q: What is {a} times {b}? A:", "{a} times {b} is", "{a}*{b}="],
  "/": ["The ratio of {a} and {b} is", "Q: What is {a} divides {b}? A:", "{a} divides {b} is", "{a}/{b}="],
};

/** Operands of a digit range, inclusive. */
const OPERAND_RANGE: Readonly<Record<DigitRange, readonly [number, number]>> = {
  1: [0, 9],
  2: [10, 99],
  3: [100, 999],
};

/**
 * One operand pair as written in the prompt. For "/", `a` is the dividend q·d and `b` the
 * divisor d: the digit range applies to the quotient q and the divisor, so every division is
 * exact and the answer has the range's digit count.
 */
export interface OperandPair {
  op: Operator;
  a: number;
  b: number;
}

/** How many pairs a cell has: all (a, b) for + - *, and (q, d) with d >= 1 for /. */
export function pairCount(op: Operator, digits: DigitRange): number {
  const [lo, hi] = OPERAND_RANGE[digits];
  const width = hi - lo + 1;
  const divisors = hi - Math.max(lo, 1) + 1;
  return op === "/" ? divisors * width : width * width;
}

/**
 * The pair at a position of the canonical order (models/arith.py `pairs()`): for + - * first
 * operand major, then second; for / divisor major, then quotient. Lets a 3D sample (810,000
 * pairs) be built without listing the cell.
 */
export function pairAt(op: Operator, digits: DigitRange, index: number): OperandPair {
  const [lo, hi] = OPERAND_RANGE[digits];
  const width = hi - lo + 1;
  if (!Number.isInteger(index) || index < 0 || index >= pairCount(op, digits)) {
    throw new SpecError("index", `pair index must be an integer from 0 to ${pairCount(op, digits) - 1} (got ${index})`);
  }
  const major = Math.floor(index / width);
  const minor = lo + (index % width);
  if (op === "/") {
    const d = Math.max(lo, 1) + major;
    return { op, a: minor * d, b: d };
  }
  return { op, a: lo + major, b: minor };
}

/**
 * Whether a pair belongs to a digit range's cell: both operands in the range for + - *, the
 * quotient and a divisor of at least 1 in it for /.
 */
export function pairInRange(pair: OperandPair, digits: DigitRange): boolean {
  const [lo, hi] = OPERAND_RANGE[digits];
  const within = (x: number) => x >= lo && x <= hi;
  return pair.op === "/" ? pair.b >= 1 && within(pair.b) && within(pair.a / pair.b) : within(pair.a) && within(pair.b);
}

/** Every pair of a cell, in canonical order. */
export function operandPairs(op: Operator, digits: DigitRange): OperandPair[] {
  const count = pairCount(op, digits);
  const out: OperandPair[] = [];
  for (let i = 0; i < count; i++) out.push(pairAt(op, digits, i));
  return out;
}

/** The true result; "/" pairs are exact divisions by construction. */
export function resultOf(pair: OperandPair): number {
  switch (pair.op) {
    case "+":
      return pair.a + pair.b;
    case "-":
      return pair.a - pair.b;
    case "*":
      return pair.a * pair.b;
    case "/":
      return Math.floor(pair.a / pair.b);
  }
}

/**
 * The prompt text. Templates 1–3 end in "is" or "A:" and get one trailing space, which belongs
 * to the prompt so that the answer's first token is the digit itself; template 4 ends in "=".
 */
export function promptText(pair: OperandPair, template: TemplateId): string {
  const text = TEMPLATES[pair.op][template - 1]!.replace("{a}", String(pair.a)).replace("{b}", String(pair.b));
  return template === 4 ? text : `${text} `;
}

/** The answer text: decimal, with a leading "-" for negative results. */
export function answerText(pair: OperandPair): string {
  return String(resultOf(pair));
}

export interface SelectPairsOptions {
  /** Pairs per 2D/3D cell, or "all". Default {@link DEFAULT_SAMPLE}. 1D cells always use all. */
  sample?: number | "all";
  /** Sweep seed; the cell's stream is deriveSeed(seed, op, digits), the same for every template. */
  seed: number;
}

/** The pairs a cell runs on, in canonical order (sorted sample indices keep that order). */
export function selectPairs(op: Operator, digits: DigitRange, options: SelectPairsOptions): OperandPair[] {
  const sample = options.sample ?? DEFAULT_SAMPLE;
  if (digits === 1 || sample === "all") return operandPairs(op, digits);
  const count = pairCount(op, digits);
  if (!Number.isInteger(sample) || sample < 1 || sample > count) {
    throw new SpecError(
      "sample",
      `sample must be "all" or an integer from 1 to ${count} for ${digits}D "${op}" (got ${describeValue(sample)})`,
    );
  }
  const rng = mulberry32(deriveSeed(options.seed, op, digits));
  return sampleWithoutReplacement(count, sample, rng).map((i) => pairAt(op, digits, i));
}

export function parseOperator(value: unknown, field = "op"): Operator {
  if (typeof value === "string" && (OPERATORS as readonly string[]).includes(value)) return value as Operator;
  throw new SpecError(field, `${field} must be ${formatAllowed(OPERATORS)} (got ${describeValue(value)})`);
}

/** Accepts 1, "1", "1D" or "1d" (sweep files and CLI flags write digit ranges both ways). */
export function parseDigits(value: unknown, field = "digits"): DigitRange {
  const text =
    typeof value === "number" ? String(value) : typeof value === "string" ? value.replace(/^(\d)[dD]$/, "$1") : "";
  if (/^[123]$/.test(text)) return Number(text) as DigitRange;
  throw new SpecError(
    field,
    `${field} must be ${formatAllowed(DIGIT_RANGES)} (or "1D", "2D", "3D") (got ${describeValue(value)})`,
  );
}

/** Accepts 1–4 as a number or a decimal string. */
export function parseTemplate(value: unknown, field = "template"): TemplateId {
  const text = typeof value === "number" ? String(value) : typeof value === "string" ? value : "";
  if (/^[1-4]$/.test(text)) return Number(text) as TemplateId;
  throw new SpecError(field, `${field} must be ${formatAllowed(TEMPLATE_IDS)} (got ${describeValue(value)})`);
}
