// An rtnetlink socket through koffi (Node has no AF_NETLINK), in the daemon's network namespace
// or in a sandbox's: the requests of src/linux/rtnetlink-messages, one at a time, each answered.
import { closeSync } from 'node:fs';
import { getSystemErrorMap } from 'node:util';
import koffi from 'koffi';
import { answerTo, type Answer } from '../src/linux/rtnetlink-messages.js';
import { inNetworkNamespace } from './libc.js';

interface Api {
  socket: (domain: number, type: number, protocol: number) => number;
  sendto: { async(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number, done: (err: unknown, n: number) => void): void };
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
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const ANSWER_BYTES = 32 * 1024;
const RECV_ATTEMPTS = 50;
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

export class RouteSocket {
  private seq = 0;

  private constructor(private fd: number | undefined) {}

  /** In the daemon's namespace, or in the one `netnsFd` holds. */
  static open(netnsFd?: number): RouteSocket {
    const make = () => load().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    const fd = netnsFd === undefined ? make() : inNetworkNamespace(netnsFd, make);
    if (fd < 0) throw new Error(`socket(AF_NETLINK, NETLINK_ROUTE) failed (errno ${koffi.errno()})`);
    return new RouteSocket(fd);
  }

  /**
   * Sends one request (`build` gets its sequence number) and resolves with the kernel's answer;
   * an error answer rejects with a NetlinkError naming `step`. The send runs on a worker thread:
   * the kernel handles the request inside it, under the rtnl lock, which the freeing of other
   * namespaces can hold for tens of ms. So the answer is queued when it returns, and is read
   * without waiting.
   */
  async request(step: string, build: (seq: number) => Buffer): Promise<Answer> {
    const fd = this.fd;
    if (fd === undefined) throw new Error(`${step}: netlink socket closed`);
    const seq = ++this.seq;
    const message = build(seq);
    const c = load();
    const sent = await new Promise<number>((resolve, reject) => c.sendto.async(fd, message, message.length, 0, KERNEL, KERNEL.length, (err, n) => (err ? reject(err as Error) : resolve(n))));
    if (sent < 0) throw new Error(`${step}: send on the netlink socket failed`);
    const buf = Buffer.alloc(ANSWER_BYTES);
    for (let attempt = 0; attempt < RECV_ATTEMPTS; attempt++) {
      const n = c.recv(fd, buf, buf.length, MSG_DONTWAIT);
      if (n < 0 && koffi.errno() === EAGAIN) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      if (n < 0) throw new Error(`${step}: recv on the netlink socket failed (errno ${koffi.errno()})`);
      const answer = answerTo(buf.subarray(0, n), seq);
      if (answer?.kind === 'error') throw new NetlinkError(step, answer.errno);
      if (answer) return answer;
    }
    throw new Error(`${step}: no answer from the kernel to request ${seq}`);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
