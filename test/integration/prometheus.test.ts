/**
 * A real Prometheus (Debian's `prometheus`, 127.0.0.1, free port, temp TSDB) scrapes the
 * coordinator's /metrics every second while an in-process sweep runs — Coordinator,
 * MemoryShardQueue and a ShardWorker wired as in embedded mode, over a tiny checkpoint — and its
 * query API must come to read the sweep's final counters. The first scrape becomes queryable a
 * few seconds after start, so the test polls with a timeout instead of sleeping.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MemoryShardQueue } from "../../core/index.ts";
import type { ResultSink, ShardTask } from "../../core/index.ts";
import { Coordinator, CoordinatorMetrics, TERMINAL_STATES } from "../../coordinator/index.ts";
import type { SweepView } from "../../coordinator/index.ts";
import { ModelCache, ShardWorker, digestCheckpoint } from "../../worker/index.ts";
import { writeGpt2Checkpoint } from "../helpers/checkpoint.ts";
import { prometheusPrerequisite, startPrometheus } from "../helpers/prometheus.ts";
import type { PrometheusServer } from "../helpers/prometheus.ts";

const prom = prometheusPrerequisite();

/** Polls `query` until its single sample equals `expected`; fails with the last reading after `timeoutMs`. */
async function untilValue(server: PrometheusServer, query: string, expected: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no sample";
  while (Date.now() < deadline) {
    const samples = await server.query(query);
    if (samples.length === 1 && samples[0]!.value === expected) return;
    last = JSON.stringify(samples);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(
    `${query} did not reach ${expected} within ${timeoutMs} ms (last: ${last})\nprometheus log:\n${server.log()}`,
  );
}

describe("Prometheus scraping the coordinator", () => {
  const dir = mkdtempSync(join(tmpdir(), "cna-prometheus-sweep-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(prom.skip)(
    "reads a running sweep's counters through the query API",
    async () => {
      prom.assert();
      const modelPath = join(dir, "tiny");
      writeGpt2Checkpoint(modelPath, { nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 16, seed: 5 });
      const yaml = [
        "name: scraped",
        "models:",
        `  - { id: tiny, path: ${JSON.stringify(modelPath)} }`,
        'operators: ["+"]',
        "digits: [1D]",
        "templates: [4]",
        "stages: [head-ablation, cna]",
        "cna: { topK: 5 }",
        "shard: { pairs: 20 }",
        "",
      ].join("\n");

      let coordinator: Coordinator | undefined;
      const queue = new MemoryShardQueue<ShardTask>({
        ackWaitMs: 30_000,
        onDead: (id, reason) => coordinator?.shardDead(id, reason),
        groupOf: (t) => t.sweepId,
      });
      const metrics = new CoordinatorMetrics();
      coordinator = new Coordinator({
        dataDir: join(dir, "data"),
        queue,
        onSweepEvent: metrics.onSweepEvent,
        digestModel: digestCheckpoint,
      });
      await coordinator.start();
      metrics.observe({ sweeps: coordinator, queue });
      await using endpoint = await metrics.serveMetrics({ host: "127.0.0.1", port: 0 });
      await using server = await startPrometheus({ targets: [`127.0.0.1:${endpoint.port}`], scrapeIntervalS: 1 });

      const backend = coordinator;
      const sink: ResultSink = {
        report: async (r) => void (await backend.reportShard(r)),
        fail: (f) => backend.reportFailure(f),
      };
      const models = new ModelCache({ intraOpThreads: 1 });
      const worker = new ShardWorker(queue, sink, models, { id: "w0", pullTimeoutMs: 200 });
      worker.start();
      try {
        const submitted = await coordinator.submit(yaml, "scraped.yaml");
        const final = await new Promise<SweepView>((resolve) => {
          const stop = backend.watch(submitted.sweepId, (v) => {
            if (!TERMINAL_STATES.has(v.state)) return;
            queueMicrotask(() => stop());
            resolve(v);
          });
        });
        expect(final.state).toBe("SUCCEEDED");
        expect(final.shardsStored).toBeGreaterThan(2);

        const sweep = `sweep="${final.sweepId}"`;
        await untilValue(server, `sum(cna_shards_completed_total{${sweep}})`, final.shardsStored, 30_000);
        await untilValue(server, `sum(cna_cases_merged_total{${sweep}})`, final.casesDone, 10_000);
        await untilValue(server, `cna_sweep_progress_ratio{${sweep}}`, 1, 10_000);
        await untilValue(server, 'cna_sweeps{state="SUCCEEDED"}', 1, 10_000);
        await untilValue(
          server,
          `sum(cna_head_ablations_merged_total{${sweep}})`,
          (final.casesDone / 2) * 2 * 2,
          10_000,
        );
        await untilValue(server, "cna_queue_pending_messages", 0, 10_000);
        const up = await server.query('up{job="cna"}');
        expect(up.map((s) => s.value)).toEqual([1]);
      } finally {
        await worker.drain();
        await queue.close();
        await models.close();
        coordinator.close();
      }
    },
    120_000,
  );
});
