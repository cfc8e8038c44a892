// A call's abort signal, aborted with the reason of the first of its sources that aborts: the
// client cancelled the request or went away, or the daemon is shutting down.
//
// Not AbortSignal.any: it keeps a WeakRef to each signal it makes in every source's set of
// dependants, and Node 20 and 22 never prune that set while the source lives
// (nodejs/node#55351; on 24 a composite with a listener can still stay, #64476). One source is
// the daemon's shutdown signal, which lives as long as the daemon: every call left a WeakRef
// behind for good (58 bytes a call on Node 20, 176 on 22; the bench's 50,000-call leak check had
// read the 20's as +0.06 MiB per 1,000 calls). Here the links are listeners, removed by unlink()
// when the call is over.

export interface LinkedSignal {
  readonly signal: AbortSignal;
  /** Detaches from the sources; call it once the call is over (the signal stays as it is). */
  unlink(): void;
}

export function linkSignals(sources: readonly AbortSignal[]): LinkedSignal {
  const controller = new AbortController();
  const aborted = sources.find((s) => s.aborted);
  if (aborted) {
    controller.abort(aborted.reason);
    return { signal: controller.signal, unlink: () => undefined };
  }
  const links = sources.map((source) => {
    const onAbort = () => {
      unlink();
      controller.abort(source.reason);
    };
    source.addEventListener('abort', onAbort, { once: true });
    return { source, onAbort };
  });
  const unlink = () => {
    for (const { source, onAbort } of links.splice(0)) source.removeEventListener('abort', onAbort);
  };
  return { signal: controller.signal, unlink };
}
