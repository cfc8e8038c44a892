// Which calls may run now: at most max_calls at once in the daemon, the rest wait in a bounded
// queue; and at most max_calls_per_caller at once for one uid, so that one caller cannot take every
// slot. Over a limit a call is refused at once, naming the limit, and other callers go on.

export interface AdmissionLimits {
  readonly max_calls: number;
  readonly max_queued_calls: number;
  readonly max_calls_per_caller: number;
}

export interface Refusal {
  /** The toolcell.toml key of the limit that stopped the call. */
  readonly limit: keyof AdmissionLimits;
  readonly value: number;
  readonly message: string;
}

export type Admitted = { readonly release: () => void };

export class Admission {
  private running = 0;
  private readonly perCaller = new Map<number, number>();
  private readonly queue: (() => void)[] = [];

  constructor(private readonly limits: AdmissionLimits) {}

  /** A slot, after waiting in the queue if need be; a Refusal when a limit says no (or `signal` aborts the wait). */
  async enter(uid: number, user: string, signal?: AbortSignal): Promise<Admitted | Refusal> {
    const mine = this.perCaller.get(uid) ?? 0;
    if (mine >= this.limits.max_calls_per_caller) {
      const n = this.limits.max_calls_per_caller;
      return { limit: 'max_calls_per_caller', value: n, message: `${user} already has ${n} call${n === 1 ? '' : 's'} running (max_calls_per_caller); call again when one has finished` };
    }
    // Counted from now on, waiting included: queued calls count against the caller's limit too.
    this.perCaller.set(uid, mine + 1);
    const leave = () => {
      const left = (this.perCaller.get(uid) ?? 1) - 1;
      if (left > 0) this.perCaller.set(uid, left);
      else this.perCaller.delete(uid);
    };
    const cancelled = (): Refusal => {
      leave();
      return { limit: 'max_calls', value: this.limits.max_calls, message: 'the call was cancelled while it waited for a free slot (max_calls)' };
    };
    if (this.running >= this.limits.max_calls) {
      // An aborted signal fires no 'abort' again: queued, the call would hold its place until a slot freed.
      if (signal?.aborted) return cancelled();
      if (this.queue.length >= this.limits.max_queued_calls) {
        leave();
        return {
          limit: 'max_queued_calls',
          value: this.limits.max_queued_calls,
          message: `toolcell is busy: ${this.limits.max_calls} calls running and ${this.queue.length} waiting (max_calls, max_queued_calls); call again later`,
        };
      }
      const admitted = await new Promise<boolean>((resolve) => {
        const go = () => {
          signal?.removeEventListener('abort', giveUp);
          resolve(true);
        };
        const giveUp = () => {
          const i = this.queue.indexOf(go);
          if (i >= 0) this.queue.splice(i, 1);
          resolve(false);
        };
        this.queue.push(go);
        signal?.addEventListener('abort', giveUp, { once: true });
      });
      if (!admitted) return cancelled();
      // A slot handed over by release() stays counted in running.
    } else {
      this.running++;
    }
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        leave();
        const next = this.queue.shift();
        if (next) next();
        else this.running--;
      },
    };
  }
}

/** Open connections per uid; a connection counts from when it is identified until it closes. */
export class ConnectionCount {
  private readonly open = new Map<number, number>();

  /** Counts `socket` for `uid` and returns how many that uid now has open. */
  add(uid: number, socket: { once(event: 'close', listener: () => void): unknown }): number {
    const n = (this.open.get(uid) ?? 0) + 1;
    this.open.set(uid, n);
    socket.once('close', () => {
      const left = (this.open.get(uid) ?? 1) - 1;
      if (left > 0) this.open.set(uid, left);
      else this.open.delete(uid);
    });
    return n;
  }
}
