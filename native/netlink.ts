// Netlink sockets through koffi (Node has no AF_NETLINK), in the daemon's network namespace or in
// a sandbox's: rtnetlink for the requests of src/linux/rtnetlink-messages, one at a time, each
// answered; nfnetlink for the dumps of a sandbox's deny sets (src/linux/nft-set-messages).
import { closeSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import koffi from 'koffi';
import { answerTo, type Answer } from '../src/linux/rtnetlink-messages.js';
import { byPackets, DENY_SETS, getSetElements, parseSetDump } from '../src/linux/nft-set-messages.js';
import type { DeniedEgress } from '../src/invocation/tool-result.js';
import { inNetworkNamespace } from './libc.js';

type SendTo = (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number) => number;

interface Api {
  socket: (domain: number, type: number, protocol: number) => number;
  sendto: SendTo & { async(...args: [...Parameters<SendTo>, done: (err: unknown, n: number) => void]): void };
  recv: (fd: number, buf: Buffer, len: number, flags: number) => number;
}

let api: Api | undefined;

function load(): Api {
  if (!api) {
    const lib = koffi.load('libc.so.6');
    const f = <T>(decl: string) => lib.func(decl) as unknown as T;
    api = {
      socket: f('int socket(int domain, int type, int protocol)'),
      sendto: f('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)'),
      recv: f('long recv(int fd, void *buf, size_t len, int flags)'),
    };
  }
  return api;
}

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const NETLINK_NETFILTER = 12;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
// The kernel builds a dump's parts at most 32 KiB large (netlink's max_recvmsg_len is capped
// there), so one read never truncates a part.
const ANSWER_BYTES = 32 * 1024;
const RECV_ATTEMPTS = 50;
/** A read after which other work goes first (some 50 deny-set elements). */
const LARGE_READ = 4096;
/** Reads of one dump at most: a deny set holds at most 4096 elements, a read some hundreds. */
const DUMP_READS = 1000;
/** struct sockaddr_nl of the kernel (port id 0). */
const KERNEL = Buffer.from([AF_NETLINK, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

export class NetlinkError extends Error {
  constructor(
    readonly step: string,
    readonly errno: number,
  ) {
    const [name, text] = getSystemErrorMap().get(-errno) ?? [`errno ${errno}`, 'unknown error'];
    super(`${step}: ${text} (${name})`);
  }
}

/** A netlink socket of one protocol, in the daemon's namespace or in the one `netnsFd` holds. */
class NetlinkSocket {
  protected seq = 0;

  protected constructor(protected fd: number | undefined) {}

  /** The next request: its sequence number, the message `build` makes with it, and the socket to send it on. */
  protected next(step: string, build: (seq: number) => Buffer): { fd: number; seq: number; message: Buffer } {
    if (this.fd === undefined) throw new Error(`${step}: netlink socket closed`);
    const seq = ++this.seq;
    return { fd: this.fd, seq, message: build(seq) };
  }

  protected static openFd(protocol: number, name: string, netnsFd?: number): number {
    const make = () => load().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    const fd = netnsFd === undefined ? make() : inNetworkNamespace(netnsFd, make);
    if (fd < 0) throw new Error(`socket(AF_NETLINK, ${name}) failed (errno ${koffi.errno()})`);
    return fd;
  }

  /**
   * Reads what the kernel queued until `take` has its answer: without waiting while something is
   * queued, then 1 ms at a time (bounded) while nothing is. After a large read the event loop has
   * a turn first: a tool can fill its deny sets with 16,384 elements, some 40 reads and 60 ms of
   * parsing, which would otherwise hold up every other call.
   */
  protected async receive<T>(step: string, take: (data: Buffer) => T | undefined, reads = RECV_ATTEMPTS): Promise<T> {
    const fd = this.fd;
    if (fd === undefined) throw new Error(`${step}: netlink socket closed`);
    const c = load();
    const buf = Buffer.alloc(ANSWER_BYTES);
    let waits = 0;
    for (let read = 0; read < reads && waits < RECV_ATTEMPTS; read++) {
      const n = c.recv(fd, buf, buf.length, MSG_DONTWAIT);
      if (n < 0 && koffi.errno() === EAGAIN) {
        waits++;
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      if (n < 0) throw new Error(`${step}: recv on the netlink socket failed (errno ${koffi.errno()})`);
      const answer = take(buf.subarray(0, n));
      if (answer !== undefined) return answer;
      if (n > LARGE_READ) await new Promise((r) => setImmediate(r));
    }
    throw new Error(`${step}: no (complete) answer from the kernel to request ${this.seq}`);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export class RouteSocket extends NetlinkSocket {
  /** In the daemon's namespace, or in the one `netnsFd` holds. */
  static open(netnsFd?: number): RouteSocket {
    return new RouteSocket(NetlinkSocket.openFd(NETLINK_ROUTE, 'NETLINK_ROUTE', netnsFd));
  }

  /**
   * Sends one request (`build` gets its sequence number) and resolves with the kernel's answer;
   * an error answer rejects with a NetlinkError naming `step`. The send runs on a worker thread:
   * the kernel handles the request inside it, under the rtnl lock, which the freeing of other
   * namespaces can hold for tens of ms. So the answer is queued when it returns, and is read
   * without waiting.
   */
  async request(step: string, build: (seq: number) => Buffer): Promise<Answer> {
    const { fd, seq, message } = this.next(step, build);
    const sent = await new Promise<number>((resolve, reject) => load().sendto.async(fd, message, message.length, 0, KERNEL, KERNEL.length, (err, n) => (err ? reject(err as Error) : resolve(n))));
    if (sent < 0) throw new Error(`${step}: send on the netlink socket failed`);
    return this.receive(step, (data) => {
      const answer = answerTo(data, seq);
      if (answer?.kind === 'error') throw new NetlinkError(step, answer.errno);
      return answer;
    });
  }
}

/**
 * The deny counters of a sandbox's firewall, read in its namespace. A dump is sent on the event
 * loop: nf_tables answers it under RCU, without the rtnl lock or its commit mutex, and queues the
 * first part before sendto returns (the rest as the parts are read).
 */
export class NetfilterSocket extends NetlinkSocket {
  static open(netnsFd: number): NetfilterSocket {
    return new NetfilterSocket(NetlinkSocket.openFd(NETLINK_NETFILTER, 'NETLINK_NETFILTER', netnsFd));
  }

  /** Every deny set of `table` (an inet table), refused destinations with packets, largest first. */
  async denied(step: string, table: string): Promise<DeniedEgress[]> {
    const out: DeniedEgress[] = [];
    for (const set of Object.keys(DENY_SETS)) out.push(...(await this.dump(`${step} (set ${set})`, table, set)));
    return out.sort(byPackets);
  }

  private async dump(step: string, table: string, set: string): Promise<DeniedEgress[]> {
    const { fd, seq, message } = this.next(step, (n) => getSetElements(n, table, set));
    if (load().sendto(fd, message, message.length, 0, KERNEL, KERNEL.length) < 0) throw new Error(`${step}: send on the netlink socket failed (errno ${koffi.errno()})`);
    const elements: DeniedEgress[] = [];
    return this.receive(
      step,
      (data) => {
        const part = parseSetDump(data, seq, set);
        if (part.kind === 'error') throw new NetlinkError(step, part.errno);
        elements.push(...part.elements);
        return part.done ? elements : undefined;
      },
      DUMP_READS,
    );
  }
}
