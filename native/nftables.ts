// libnftables through koffi: nftables commands without an `nft` process per step (about 0.1-1 ms
// in-process against about 5 ms per spawn). Loaded lazily so that pure code never needs the FFI.
//
// A context talks to the network namespace its netlink socket was opened in, and libnftables
// opens that socket in nft_ctx_new. So a context for a sandbox is made by switching the calling
// thread into the sandbox's namespace (setns), making the context, and switching straight back:
// the daemon's thread is in the sandbox's namespace for the duration of one nft_ctx_new, and every
// later command goes through the socket without another switch.
import koffi from 'koffi';
import { inNetworkNamespace } from './libc.js';

interface Nft {
  ctxNew: (flags: number) => unknown;
  ctxFree: { async(ctx: unknown, done: (err: unknown) => void): void };
  bufferOutput: (ctx: unknown) => number;
  bufferError: (ctx: unknown) => number;
  outputSetFlags: (ctx: unknown, flags: number) => void;
  run: { async(ctx: unknown, buf: string, done: (err: unknown, rc: number) => void): void };
  output: (ctx: unknown) => string | null;
  error: (ctx: unknown) => string | null;
}

let api: Nft | undefined;

function load(): Nft {
  if (!api) {
    const lib = koffi.load('libnftables.so.1');
    const f = <T>(l: ReturnType<typeof koffi.load>, decl: string) => l.func(decl) as unknown as T;
    api = {
      ctxNew: f(lib, 'void *nft_ctx_new(uint32_t flags)'),
      ctxFree: f(lib, 'void nft_ctx_free(void *ctx)'),
      bufferOutput: f(lib, 'int nft_ctx_buffer_output(void *ctx)'),
      bufferError: f(lib, 'int nft_ctx_buffer_error(void *ctx)'),
      outputSetFlags: f(lib, 'void nft_ctx_output_set_flags(void *ctx, uint32_t flags)'),
      run: f(lib, 'int nft_run_cmd_from_buffer(void *ctx, const char *buf)'),
      output: f(lib, 'const char *nft_ctx_get_output_buffer(void *ctx)'),
      error: f(lib, 'const char *nft_ctx_get_error_buffer(void *ctx)'),
    };
  }
  return api;
}

const EINTR_ATTEMPTS = 3;
// nftables.h: output flags.
const OUTPUT_JSON = 1 << 4;

export class NftError extends Error {
  constructor(
    readonly step: string,
    readonly detail: string,
  ) {
    super(`${step}: ${detail.trim().split('\n').slice(-3).join('; ') || 'failed'}`);
  }
}

export interface NftRunOptions {
  readonly json?: boolean;
}

class NftContext {
  private ctx: unknown;

  private constructor(ctx: unknown) {
    this.ctx = ctx;
  }

  /** A context in the daemon's namespace, or in the namespace `netnsFd` holds. */
  static open(netnsFd?: number): NftContext {
    const n = load();
    return NftContext.wrap(netnsFd === undefined ? n.ctxNew(0) : inNetworkNamespace(netnsFd, () => n.ctxNew(0)));
  }

  private static wrap(ctx: unknown): NftContext {
    if (!ctx) throw new Error('nft_ctx_new failed');
    const n = load();
    n.bufferOutput(ctx);
    n.bufferError(ctx);
    return new NftContext(ctx);
  }

  /**
   * Runs nft commands (a ruleset for `nft -f`, or one command); resolves with what nft would print.
   * On a worker thread: a commit waits for an RCU grace period in the kernel (about 10 ms for a
   * table deletion), which must not stall the daemon's event loop. The socket already belongs to
   * the context's namespace, so the worker thread's own namespace does not matter.
   */
  async run(step: string, commands: string, opts: NftRunOptions = {}): Promise<string> {
    // libnftables waits for the kernel's acknowledgement in select(), which a signal to this
    // thread (SIGCHLD of an `ip` that just ended) interrupts after the batch was sent. Sending it
    // again gives the same rules: sandbox and host tables are emptied first, not added to; the
    // guard's rule, added twice, drops the same packets; deleting what is gone is ignored by the
    // callers; listing changes nothing.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.runOnce(step, commands, opts);
      } catch (e) {
        if (!(e instanceof NftError) || !/Interrupted system call/.test(e.detail) || attempt >= EINTR_ATTEMPTS) throw e;
      }
    }
  }

  private async runOnce(step: string, commands: string, opts: NftRunOptions): Promise<string> {
    const ctx = this.ctx;
    if (!ctx) throw new NftError(step, 'context closed');
    const n = load();
    n.outputSetFlags(ctx, opts.json ? OUTPUT_JSON : 0);
    const rc = await new Promise<number>((resolve, reject) => n.run.async(ctx, commands, (err, value) => (err ? reject(err as Error) : resolve(value))));
    // Reading a buffer also resets it for the next command.
    const out = n.output(ctx) ?? '';
    const err = n.error(ctx) ?? '';
    if (rc !== 0) throw new NftError(step, err || `exit status ${rc}`);
    return out;
  }

  /**
   * On a worker thread too: closing the context's netlink socket costs about 4 ms in the kernel
   * (measured on the daemon's event loop, where it was most of the daemon's time under load).
   */
  async close(): Promise<void> {
    const ctx = this.ctx;
    this.ctx = undefined;
    if (ctx) await new Promise<void>((resolve, reject) => load().ctxFree.async(ctx, (err) => (err ? reject(err as Error) : resolve())));
  }
}

type Commands = string | (() => string);

/** A function is asked for its commands when their turn comes (to batch what gathered meanwhile). */
const text = (commands: Commands) => (typeof commands === 'function' ? commands() : commands);

/**
 * Commands in the namespace `netnsFd` holds (a sandbox's), each through a fresh context: kept per
 * sandbox, each context held its table's cache, and 64 sandboxes at once took the daemon to
 * 300 MiB. Queued behind the commands before it.
 */
export function nftIn(netnsFd: number, step: string, commands: Commands): Promise<string> {
  // The caller has its answer once the commands ran; the queue goes on once the context is freed
  // (closing its netlink socket takes the kernel a millisecond or more). Measured when a call's
  // counters were still read here: they reached its answer 0.6 ms sooner (median of 200 calls, twice).
  return new Promise<string>((resolve, reject) => {
    void enqueue(async () => {
      let ctx: NftContext | undefined;
      try {
        ctx = NftContext.open(netnsFd);
        resolve(await ctx.run(step, text(commands)));
      } catch (e) {
        reject(e as Error);
      } finally {
        await ctx?.close();
      }
    }).catch(() => undefined); // only the free can fail here, after the caller has its answer
  });
}

let hostContext: NftContext | undefined;

/**
 * Commands in the daemon's own namespace (host tables, the forwarding guard), through one context
 * kept for good: its cache holds the host tables that exist, no more, and freeing a context
 * (closing its netlink socket) can take milliseconds in the kernel while namespaces are freed.
 */
export function nftHost(step: string, commands: Commands, opts: NftRunOptions = {}): Promise<string> {
  return enqueue(async () => {
    hostContext ??= NftContext.open();
    return hostContext.run(step, text(commands), opts);
  });
}

function enqueue<T>(work: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    waiting.push(() => work().then(resolve, reject));
    void pump();
  });
}

/**
 * One command at a time: libnftables is not made for concurrent use from several threads (run
 * concurrently on the worker pool, the daemon's malloc heap grew to 600 MiB at 64 network calls at
 * once, against 20 MiB one at a time), and a context opened only when its turn comes keeps few of
 * them alive. (A call's counters are read without it: native/netlink.ts.)
 */
const waiting: (() => Promise<void>)[] = [];
let running = false;

async function pump(): Promise<void> {
  if (running) return;
  running = true;
  try {
    for (let job = waiting.shift(); job; job = waiting.shift()) await job();
  } finally {
    running = false;
  }
}
