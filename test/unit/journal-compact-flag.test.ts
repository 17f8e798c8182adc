/** `cna coordinator --journal-compact-bytes N` reaches the coordinator's options, validated and named in its errors. */
import { describe, expect, it } from "vitest";
import { COORDINATOR_DEFAULTS, resolveCoordinatorOptions } from "../../app/index.ts";
import { coordinatorOptionsOf } from "../../cli/options.ts";

const flags = (extra: Record<string, string>) => ({ data: "/var/lib/cna", nats: "nats://127.0.0.1:4222", ...extra });

describe("--journal-compact-bytes", () => {
  it("sets the compaction threshold; the default is 16 MiB", () => {
    const o = coordinatorOptionsOf(flags({ "journal-compact-bytes": "4096" }), {}, () => undefined);
    expect(resolveCoordinatorOptions(o).compactJournalBytes).toBe(4096);
    const d = coordinatorOptionsOf(flags({}), {}, () => undefined);
    expect(resolveCoordinatorOptions(d).compactJournalBytes).toBe(16 * 1024 * 1024);
    expect(COORDINATOR_DEFAULTS.compactJournalBytes).toBe(16 * 1024 * 1024);
  });

  it("refuses a value under 1024 or not an integer, naming the flag or the field", () => {
    expect(() => coordinatorOptionsOf(flags({ "journal-compact-bytes": "100" }), {}, () => undefined)).toThrow(
      /--journal-compact-bytes/,
    );
    expect(() => coordinatorOptionsOf(flags({ "journal-compact-bytes": "1e9x" }), {}, () => undefined)).toThrow(
      /--journal-compact-bytes/,
    );
    expect(() => resolveCoordinatorOptions({ dataDir: "/d", compactJournalBytes: 10 })).toThrow(/compactJournalBytes/);
  });
});
