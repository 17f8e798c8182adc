/**
 * Whether a NATS connection is up right now. The client drops what is published while it is
 * disconnected (nats.js v3 does not replay it after reconnecting), so a request sent into a
 * dead link just times out; callers wait for the link instead, and retry what was in flight
 * when it went down.
 */
import type { NatsConnection } from "@nats-io/transport-node";

export class Link {
  private up = true;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly nc: NatsConnection) {
    void this.follow();
  }

  get connected(): boolean {
    return this.up && !this.nc.isClosed();
  }

  /** True once the link is up (at once if it is); false if the deadline passes or it closes first. */
  async waitUp(deadline: number): Promise<boolean> {
    while (!this.connected) {
      if (this.nc.isClosed() || Date.now() >= deadline) return false;
      await this.change(deadline - Date.now());
    }
    return true;
  }

  /** A promise that resolves when the link goes down (or closes), and a function to stop watching. */
  whenDown(): { down: Promise<void>; cancel: () => void } {
    let cancel = () => {};
    const down = new Promise<void>((resolve) => {
      const check = () => {
        if (this.connected) return;
        this.listeners.delete(check);
        resolve();
      };
      this.listeners.add(check);
      cancel = () => this.listeners.delete(check);
      check();
    });
    return { down, cancel };
  }

  /** Resolves at the next change of state, or after `ms`. */
  private change(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      this.listeners.add(done);
    });
  }

  private async follow(): Promise<void> {
    const set = (up: boolean) => {
      this.up = up;
      for (const l of [...this.listeners]) l();
    };
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect") set(false);
      else if (s.type === "reconnect") set(true);
      else if (s.type === "close") break;
    }
    set(false); // the iterator ends when the connection closes
  }
}
