/**
 * A bound on how deep a YAML text nests, found before anything recursive reads it. Composing a
 * document recurses once per level (and, for some broken texts, so does the parser when it
 * closes many levels at once): a few hundred kilobytes of `- - - ...`, of ever deeper indentation
 * or of `[a: a: a: ...` ran the yaml package out of stack, or crashed the process with an
 * out-of-memory error in V8's regular-expression compiler.
 *
 * So the text is fed to the yaml package's own lexer and parser one token at a time, and the
 * parser's stack (the document, the collections open at that point, a scalar being read) is
 * watched: past the bound, reading stops and nothing is composed. Measuring with the parser
 * itself, rather than guessing from indicators, keeps the bound honest for texts whose error
 * recovery nests things no indicator shows.
 */
import { CST, Lexer, Parser } from "yaml";

/**
 * How far the parser's stack may stand above the parsed depth: it also holds the document, a
 * scalar being read and properties waiting for their node. Measured at most 3 on valid YAML.
 */
const PARSER_STACK_SLACK = 8;

export interface YamlScan {
  /** false when the parser's nesting went past the bound (reading stopped there) */
  withinDepth: boolean;
  /** alias nodes (`*name`) read (up to where reading stopped) */
  aliases: number;
}

/**
 * Reads `text` with the parser alone, stopping as soon as it nests deeper than `maxDepth` (plus
 * the parser's own slack). Within the bound, the composed document is at most about four times
 * as deep as `maxDepth`: a `[ ]` can become the key of a mapping after it was read, and a pair
 * inside `[ ]` composes as a mapping of its own. Its exact depth is checked once composed.
 */
export function scanYaml(text: string, maxDepth: number): YamlScan {
  const parser = new Parser();
  let aliases = 0;
  for (const token of new Lexer().lex(text)) {
    if (CST.tokenType(token) === "alias") aliases++;
    drain(parser.next(token));
    if (parser.stack.length > maxDepth + PARSER_STACK_SLACK) return { withinDepth: false, aliases };
  }
  drain(parser.end());
  return { withinDepth: true, aliases };
}

/** Runs the parser's step to its end; the documents it finishes are not wanted here. */
function drain(steps: Generator<unknown>): void {
  for (let step = steps.next(); !step.done; step = steps.next());
}
