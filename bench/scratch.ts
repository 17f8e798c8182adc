/**
 * A benchmark's temp directory and the runners it opens, released together: when the benchmark
 * ends, when it fails, and on SIGINT or SIGTERM. A runner's graph directory holds hard links to
 * weight files of gigabytes, so a runner left open would keep their disk space after the
 * directory holding them is gone.
 *
 * @example
 * ```ts
 * await using scratch = await Scratch.create("cna-bench-large-");
 * const figure = await scratch.with(new ModelRunner(...), (runner) => headAblation(runner, cases));
 * ```
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface Closable {
  close(): Promise<void>;
}

const SIGNALS = { SIGINT: 130, SIGTERM: 143 } as const;

export class Scratch implements AsyncDisposable {
  private readonly open = new Set<Closable>();
  private readonly onSignal = new Map<NodeJS.Signals, () => void>();
  private released: Promise<void> | null = null;

  private constructor(readonly dir: string) {
    for (const [signal, code] of Object.entries(SIGNALS) as Array<[NodeJS.Signals, number]>) {
      const handler = () => {
        process.stderr.write(`bench: ${signal}: removing ${dir}\n`);
        // a second signal finds no handler and ends the process the default way
        void this.release().finally(() => process.exit(code));
      };
      this.onSignal.set(signal, handler);
      process.once(signal, handler);
    }
  }

  static async create(prefix: string): Promise<Scratch> {
    return new Scratch(await mkdtemp(join(tmpdir(), prefix)));
  }

  /** Runs `fn` on `resource` and closes it after, also when `fn` throws or the process is signalled meanwhile. */
  async with<T extends Closable, R>(resource: T, fn: (resource: T) => Promise<R>): Promise<R> {
    this.open.add(resource);
    try {
      return await fn(resource);
    } finally {
      this.open.delete(resource);
      await resource.close();
    }
  }

  /** Closes what is still open and removes the directory (once, whoever asks first). */
  release(): Promise<void> {
    this.released ??= (async () => {
      for (const [signal, handler] of this.onSignal) process.removeListener(signal, handler);
      const open = [...this.open];
      this.open.clear();
      await Promise.allSettled(open.map((r) => r.close()));
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.released;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}
