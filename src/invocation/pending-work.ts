// Work that outlives the request that started it (teardowns after the answer, sandboxes built
// ahead of demand): tracked, so that a daemon that stops waits for all of it.
export class PendingWork {
  private readonly pending = new Set<Promise<unknown>>();

  add(work: Promise<unknown>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work)).catch(() => undefined);
  }

  /** Resolves once nothing is pending, including work added meanwhile (bounded rounds). */
  async settled(): Promise<void> {
    for (let i = 0; i < 100 && this.pending.size > 0; i++) await Promise.allSettled([...this.pending]);
  }
}
