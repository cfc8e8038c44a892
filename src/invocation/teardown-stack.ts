// Undo steps in LIFO order: whatever part of a sandbox was built is taken down, in reverse, even
// when a later step failed. A failing undo step is recorded and the rest still run.

export interface TeardownStep {
  readonly name: string;
  readonly undo: () => void | Promise<void>;
}

export class TeardownStack {
  private readonly steps: TeardownStep[] = [];

  push(name: string, undo: () => void | Promise<void>): void {
    this.steps.push({ name, undo });
  }

  /**
   * Runs every step, newest first. The receipt maps each step to "ok" or what went wrong, for the
   * audit record ("remove cgroup": "ok" also says that no process was left in it).
   */
  async run(): Promise<Record<string, string>> {
    const receipt: Record<string, string> = {};
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.undo();
        receipt[step.name] = 'ok';
      } catch (e) {
        receipt[step.name] = (e as Error).message;
      }
    }
    return receipt;
  }
}
