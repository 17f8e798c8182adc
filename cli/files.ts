/**
 * The files `cna analyze` reads and writes: an explicit list of operand pairs (docs/method.md §6, so
 * two implementations can be compared on the same cases) and the result JSON, written atomically
 * so a reader never sees half a file and a crash never leaves a truncated one behind.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { SpecError, describeValue, pairInRange } from "../core/index.ts";
import type { DigitRange, OperandPair, Operator } from "../core/index.ts";
import { OutputWriteError } from "./errors.ts";

/**
 * Reads a JSON array of pairs, each `[a, b]` or `{ "a": a, "b": b }` as written in the prompt
 * (for "/" `a` is the dividend). Every pair must be two integers; "/" needs an exact division by
 * a nonzero divisor, because the answer is an integer quotient.
 */
/**
 * Pairs from a JSON file for one cell; a pair outside the cell's digit range is refused, since
 * the output names the cell by that range.
 */
export async function readPairsFile(path: string, op: Operator, digits: DigitRange): Promise<OperandPair[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new SpecError("pairs", `cannot read pairs file ${path}: ${(err as Error).message}`, err);
  }
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new SpecError(
      "pairs",
      `${path}: expected a non-empty JSON array of [a, b] pairs (got ${describeValue(raw)})`,
    );
  }
  return raw.map((item: unknown, index) => {
    const fail = (why: string) => new SpecError("pairs", `${path}: pair ${index} (${describeValue(item)}) ${why}`);
    let a: unknown;
    let b: unknown;
    if (Array.isArray(item) && item.length === 2) [a, b] = item as unknown[];
    else if (
      typeof item === "object" &&
      item !== null &&
      !Array.isArray(item) &&
      Object.keys(item).sort().join() === "a,b"
    )
      ({ a, b } = item as { a: unknown; b: unknown });
    else throw fail('must be [a, b] or {"a": a, "b": b}');
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b)) throw fail("must hold two integers");
    const pair: OperandPair = { op, a: a as number, b: b as number };
    if (op === "/" && (pair.b === 0 || pair.a % pair.b !== 0)) {
      throw fail(
        `is not an exact division: "/" needs a divisor that is not 0 and divides the dividend (${pair.a} / ${pair.b})`,
      );
    }
    if (!pairInRange(pair, digits)) {
      throw fail(
        `is outside --digits ${digits} (${op === "/" ? "quotient and divisor" : "both operands"} must have ${digits} digit${digits === 1 ? "" : "s"}); the output names the cell by --digits, so give the --digits the pairs have`,
      );
    }
    return pair;
  });
}

/** `--out -` / `-o -`: write the result to stdout (progress and notices stay on stderr). */
export const STDOUT = "-";

/** Creates the output's directory up front, so a bad --out fails before an hour of analysis. */
export async function prepareOutput(path: string): Promise<void> {
  if (path === STDOUT) return;
  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (err) {
    throw new OutputWriteError(path, `cannot create the directory of ${path}: ${(err as Error).message}`, err);
  }
}

/** Creates an output directory (`flag` names where it came from), refusing with OUTPUT_WRITE_FAILED naming it. */
export async function prepareOutputDir(dir: string, flag: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new OutputWriteError(dir, `${flag} ${dir}: cannot create the directory: ${(err as Error).message}`, err);
  }
}

/** Writes pretty JSON atomically (see writeTextAtomic). */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeTextAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * A command's result: to stdout when `path` is {@link STDOUT} (the bin sets an exit code rather
 * than exiting, so Node writes all of it out first), else atomically to the file.
 */
export async function writeOutput(path: string, text: string, stdout: { write(text: string): unknown }): Promise<void> {
  if (path === STDOUT) stdout.write(text);
  else await writeTextAtomic(path, text);
}

/** Writes text to a temp file beside `path`, fsyncs it, then renames it over `path`. */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  // Same directory: rename is only atomic within one filesystem.
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    const file = await open(temp, "wx");
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw new OutputWriteError(path, `cannot write ${path}: ${(err as Error).message}`, err);
  }
}
