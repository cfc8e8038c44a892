// What planning needs to know about the host, gathered before planning (by linux/gather-host-facts)
// so that planning itself stays pure and golden-testable with a fixed fixture.

/** `real` is the path with every symlink resolved (undefined for a dangling symlink). */
export type PathFact =
  | { readonly type: 'missing' }
  | { readonly type: 'directory' | 'file' | 'other'; readonly real: string }
  | { readonly type: 'symlink'; readonly target: string; readonly real: string | undefined };

export interface SandboxUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

export interface HostFacts {
  /** lstat of every host path a profile binds, keyed by that path. */
  readonly paths: Readonly<Record<string, PathFact>>;
  readonly user: SandboxUser;
  /** Whether the installed bwrap knows --disable-userns (0.8.0 and later). */
  readonly bwrapDisableUserns: boolean;
  /** Host path of the static pty-exec helper, bound into sandboxes of pty tools. */
  readonly ptyHelper: string;
  /** Host path of the static sandbox-exec helper, the program bwrap starts in every sandbox. */
  readonly execHelper: string;
  /** The allowlist's host names and the addresses the daemon resolved for them when the sandbox was built (at most ready_max_age before its call). */
  readonly resolved: Readonly<Record<string, readonly string[]>>;
}
