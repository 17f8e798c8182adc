/**
 * What the options of every process kind share: an address to listen on, how workers and
 * coordinators hear of things worth a line, and the field checks their resolvers run. A value
 * that does not fit is refused with a SpecError naming the field, before anything starts.
 */
import { EXECUTION_PROVIDERS, SpecError, describeValue, formatAllowed } from "../core/index.ts";
import type { Provider } from "../core/index.ts";

/** An address to listen on; port 0 picks a free one (read it back from the started thing). */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Something worth a line that is not a failure: NATS not reachable yet (`nats`, tried again), an
 * engine fallback such as CUDA → CPU (`engine`).
 */
export interface Notice {
  topic: "nats" | "engine";
  message: string;
}

/** An integer of at least `min` (undefined: `fallback`). */
export function integerField(field: string, value: number | undefined, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min)
    throw new SpecError(field, `${field} must be an integer >= ${min}, got ${describeValue(value)}`);
  return value;
}

/** A finite number above 0 (undefined stays undefined). */
export function positiveField(field: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!(typeof value === "number" && Number.isFinite(value) && value > 0))
    throw new SpecError(field, `${field} must be a positive number, got ${describeValue(value)}`);
  return value;
}

/** `{ host, port }` with a port in 0..65535 (undefined: `fallback`; null: none). */
export function hostPortField(
  field: string,
  value: HostPort | null | undefined,
  fallback: HostPort | null,
): HostPort | null {
  if (value === undefined) return fallback;
  if (value === null) return null;
  if (
    typeof value.host !== "string" ||
    value.host === "" ||
    !Number.isInteger(value.port) ||
    value.port < 0 ||
    value.port > 65535
  ) {
    throw new SpecError(field, `${field} must be { host, port } with a port in 0..65535, got ${describeValue(value)}`);
  }
  return { host: value.host, port: value.port };
}

export function providerField(field: string, value: Provider | undefined, fallback: Provider): Provider {
  if (value === undefined) return fallback;
  if (!EXECUTION_PROVIDERS.includes(value))
    throw new SpecError(field, `${field} must be ${formatAllowed(EXECUTION_PROVIDERS)}, got ${describeValue(value)}`);
  return value;
}
