/** The client side of the control socket, used by `cuffia ctl`, the demo and tests. */
import { createConnection, type Socket } from "node:net";

export class NoDaemonError extends Error {
  readonly code = "no_daemon";
}

function connect(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new NoDaemonError(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(timer);
      resolve(sock);
    });
    sock.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why =
        e.code === "ENOENT"
          ? "no socket there: is the daemon running (systemctl status cuffia)?"
          : e.code === "EACCES"
            ? "permission denied: run as the cuffia user or a member of its group"
            : e.code === "ECONNREFUSED"
              ? "nobody listening: the daemon is not running"
              : (e.code ?? e.message);
      reject(new NoDaemonError(`cannot reach the daemon at ${path}: ${why}`));
    });
  });
}

/** Reads JSON lines from a socket. */
function lines(sock: Socket, onLine: (msg: Record<string, unknown>) => void): void {
  let buf = "";
  sock.setEncoding("utf8");
  sock.on("data", (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) onLine(JSON.parse(line) as Record<string, unknown>);
    }
  });
}

/** Sends one request and resolves with its answer. */
export async function request(
  path: string,
  req: Record<string, unknown>,
  timeoutMs = 5000,
): Promise<Record<string, unknown>> {
  const sock = await connect(path, timeoutMs);
  const id = req["id"] ?? 1;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new NoDaemonError(`the daemon did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    lines(sock, (msg) => {
      // An error with no id is about the connection (too many clients): that is the answer.
      if (msg["id"] !== id && !(msg["id"] === null && msg["ok"] === false)) return;
      clearTimeout(timer);
      sock.end();
      resolve(msg);
    });
    sock.once("close", () => {
      clearTimeout(timer);
      reject(new NoDaemonError("the daemon closed the connection"));
    });
    sock.write(`${JSON.stringify({ ...req, id })}\n`);
  });
}

/** Subscribes and calls `onMessage` for every streamed line until `close()` is called. */
export async function subscribe(
  path: string,
  onMessage: (msg: Record<string, unknown>) => void,
  timeoutMs = 5000,
): Promise<{ close(): void; closed: Promise<void> }> {
  const sock = await connect(path, timeoutMs);
  lines(sock, onMessage);
  sock.write(`${JSON.stringify({ id: "sub", cmd: "subscribe" })}\n`);
  const closed = new Promise<void>((resolve) => sock.once("close", () => resolve()));
  return { close: () => sock.destroy(), closed };
}
