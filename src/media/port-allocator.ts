/**
 * RTP/RTCP port pairs from a configured range: RTP on an even port, RTCP on the next odd one
 * (RFC 3550 §11). Ports are handed out round-robin so a port just freed is not reused at once
 * (late packets of the previous call would land in the new one).
 */
import { createSocket, type Socket } from "node:dgram";

export interface PortPair {
  readonly port: number;
  readonly rtp: Socket;
  readonly rtcp: Socket;
  release(): Promise<void>;
}

function bind(socket: Socket, port: number, address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onError = (): void => {
      socket.off("listening", onListening);
      resolve(false);
    };
    const onListening = (): void => {
      socket.off("error", onError);
      resolve(true);
    };
    socket.once("error", onError);
    socket.once("listening", onListening);
    socket.bind(port, address);
  });
}

function ignore(): void {}

function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

export class PortAllocator {
  private readonly inUse = new Set<number>();
  private cursor: number;
  private readonly first: number;
  private readonly count: number;

  constructor(
    private readonly address: string,
    portMin: number,
    portMax: number,
  ) {
    this.first = portMin % 2 === 0 ? portMin : portMin + 1;
    this.count = Math.floor((portMax - this.first - 1) / 2) + 1;
    if (this.count < 1) throw new RangeError(`RTP port range ${portMin}-${portMax} holds no even/odd pair`);
    this.cursor = Math.floor(Math.random() * this.count);
  }

  /**
   * A pair bound ahead of time, so that answering a call does not wait for two binds. Unref'd
   * while it waits: an idle spare never keeps the process alive.
   */
  private spare: Promise<PortPair | null> | null = null;
  private closed = false;

  async allocate(): Promise<PortPair> {
    if (this.closed) throw new Error("the RTP port allocator is closed");
    const spare = this.spare;
    this.spare = null;
    const pair = (spare ? await spare : null) ?? (await this.bindPair());
    pair.rtp.off("error", ignore).ref();
    pair.rtcp.off("error", ignore).ref();
    setImmediate(() => this.prepareSpare()); // after the call's answer has gone out
    return pair;
  }

  /** Binds the next pair now (idempotent); it is handed out by the next allocate(). */
  prepareSpare(): void {
    if (this.closed || this.spare) return;
    this.spare = this.bindPair().then(
      (pair) => {
        for (const s of [pair.rtp, pair.rtcp]) s.on("error", ignore).unref();
        if (!this.closed) return pair;
        void pair.release();
        return null;
      },
      () => null, // the range is full: allocate() will say so
    );
  }

  /** Releases the spare pair; pairs handed out are their sessions' to release. */
  async close(): Promise<void> {
    this.closed = true;
    const spare = this.spare;
    this.spare = null;
    await (await spare)?.release();
  }

  private async bindPair(): Promise<PortPair> {
    for (let attempt = 0; attempt < this.count; attempt++) {
      const port = this.first + 2 * ((this.cursor + attempt) % this.count);
      if (this.inUse.has(port)) continue;
      const rtp = createSocket({ type: "udp4" });
      if (!(await bind(rtp, port, this.address))) {
        await closeSocket(rtp);
        continue;
      }
      const rtcp = createSocket({ type: "udp4" });
      if (!(await bind(rtcp, port + 1, this.address))) {
        await Promise.all([closeSocket(rtp), closeSocket(rtcp)]);
        continue;
      }
      this.cursor = (this.cursor + attempt + 1) % this.count;
      this.inUse.add(port);
      let released: Promise<void> | null = null;
      return {
        port,
        rtp,
        rtcp,
        release: () => {
          released ??= Promise.all([closeSocket(rtp), closeSocket(rtcp)]).then(() => {
            this.inUse.delete(port);
          });
          return released;
        },
      };
    }
    throw new Error(
      `no free RTP port pair in ${this.first}-${this.first + 2 * this.count - 1} on ${this.address}`,
    );
  }
}
