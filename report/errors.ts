/**
 * Errors of the report renderer: its inputs come from files and the wire, so they are checked at
 * the edge and a bad one is named (which file, which field) instead of rendering nonsense.
 */
import { CnaError } from "../core/index.ts";

/** rankings.json or provenance.json is not what the report can draw: wrong schema version, a missing field. */
export class ReportInputError extends CnaError {
  /** where the input came from: a file path or "coordinator sweep ID" */
  readonly source: string;
  /** the JSON field at fault, e.g. "cells[2].heads"; "" when the whole input is (unreadable, not JSON) */
  readonly field: string;

  constructor(source: string, field: string, message: string, cause?: unknown) {
    super(`${source}: ${field === "" ? "" : `${field}: `}${message}`, {
      code: "BAD_REPORT_INPUT",
      retryable: false,
      cause,
    });
    this.source = source;
    this.field = field;
  }
}
