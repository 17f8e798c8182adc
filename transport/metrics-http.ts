/**
 * The `/metrics` endpoint both deployables serve (docs/architecture.md decision 9). It only moves text:
 * what to render is the caller's (coordinator/metrics.ts, worker/runtime/metrics.ts — the two
 * modules that import prom-client), so this file stays free of any metrics library.
 *
 * GET or HEAD /metrics → 200 with the rendered text; any other path → 404; other methods → 405;
 * a render that throws → 500 with its message, so Prometheus marks the target down instead of
 * storing a partial scrape.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface MetricsEndpoint {
  host: string;
  /** 0 picks a free port; read it back from {@link MetricsServer.port} */
  port: number;
}

export interface MetricsServer extends AsyncDisposable {
  /** the port actually bound */
  readonly port: number;
  close(): Promise<void>;
}

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

export async function serveMetricsText(
  at: MetricsEndpoint,
  render: () => Promise<RenderedMetrics>,
): Promise<MetricsServer> {
  if (!Number.isInteger(at.port) || at.port < 0 || at.port > 65535)
    throw new RangeError(`metrics port must be an integer in 0..65535, got ${at.port}`);
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res
        .writeHead(404, { "content-type": "text/plain; charset=utf-8" })
        .end("not found: metrics are served on /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res
        .writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" })
        .end("method not allowed\n");
      return;
    }
    render().then(
      ({ contentType, body }) =>
        void res.writeHead(200, { "content-type": contentType }).end(req.method === "HEAD" ? undefined : body),
      (err: unknown) =>
        void res
          .writeHead(500, { "content-type": "text/plain; charset=utf-8" })
          .end(`cannot render metrics: ${err instanceof Error ? err.message : String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const close = () =>
    new Promise<void>((resolve, reject) => {
      if (!server.listening) return resolve();
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeAllConnections(); // keep-alive scrapers would hold close() open otherwise
    });
  return { port: (server.address() as AddressInfo).port, close, [Symbol.asyncDispose]: close };
}
