/**
 * Namespaces on a shared NATS server: every coordinator's shards live in a stream, subjects and
 * consumer of their own, named from its namespace, so the workers of one coordinator never pull
 * another's shards (docs/architecture.md, "Namespaces"). This is the one place the names are
 * derived from a namespace.
 */
import { SpecError, describeValue } from "../core/index.ts";

/**
 * A namespace: 1 to 32 characters from a-z, 0-9, `_` and `-`, starting with a letter or digit.
 * It becomes a subject token and part of a stream name (hence no `.`, `*`, `>` or spaces), and
 * lower case only, so two namespaces never share a stream directory on a case-insensitive disk.
 */
export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** The JetStream names a namespace's queue uses. */
export interface NamespaceNames {
  /** `CNA_SHARDS_<namespace>` */
  stream: string;
  /**
   * `cna.ns.<namespace>.shards`: not under the `cna.shards.>` of the stream `CNA_SHARDS` that
   * releases without namespaces created, so both streams can exist on one server while the old
   * one drains (two streams may not hold overlapping subjects)
   */
  subjectPrefix: string;
  /** the workers' shared durable consumer (names are per stream) */
  durable: string;
}

/** Checks a namespace; throws a SpecError naming `field` (a flag or an option path). */
export function checkNamespace(field: string, value: unknown): string {
  if (typeof value !== "string" || !NAMESPACE_PATTERN.test(value))
    throw new SpecError(
      field,
      `${field} must be 1 to 32 characters from a-z, 0-9, "_" and "-", starting with a letter or digit (it names NATS subjects and a stream), got ${describeValue(value)}`,
    );
  return value;
}

/** The stream, subject prefix and durable of `namespace` (checked first). */
export function namespaceNames(namespace: string): NamespaceNames {
  const ns = checkNamespace("namespace", namespace);
  return { stream: `CNA_SHARDS_${ns}`, subjectPrefix: `cna.ns.${ns}.shards`, durable: "cna-workers" };
}
