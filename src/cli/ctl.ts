/** `cuffia ctl COMMAND [ARG] [--socket PATH]`: talk to the running daemon over its control socket. */
import { parseArgs } from "node:util";
import { loadConfig } from "../config/load.js";
import { NoDaemonError, request, subscribe } from "../control/control-client.js";
import { requestFromArgs } from "../control/protocol.js";
import { configPath, EXIT, err, out } from "./io.js";

export async function ctlCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      socket: { type: "string" },
      config: { type: "string", short: "c" },
      timeout: { type: "string" },
    },
    allowPositionals: true,
  });
  const [cmd, arg] = positionals;
  if (!cmd) {
    err("usage: cuffia ctl COMMAND [ARG] [--socket PATH]");
    return EXIT.usage;
  }
  let socket = values.socket;
  if (!socket) {
    try {
      socket = loadConfig(configPath(values.config), { hostChecks: false }).config.control.socket;
    } catch {
      socket = "/run/cuffia/control.sock";
    }
  }
  const timeout = Number(values.timeout ?? 5000);
  try {
    if (cmd === "subscribe") {
      const sub = await subscribe(socket, (m) => out(JSON.stringify(m)), timeout);
      const stop = () => sub.close();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      await sub.closed;
      return EXIT.ok;
    }
    const req = requestFromArgs(cmd, arg);
    if (typeof req === "string") {
      err(req);
      return EXIT.usage;
    }
    const answer = await request(socket, req, timeout);
    out(JSON.stringify(answer, null, 2));
    return answer["ok"] === true ? EXIT.ok : EXIT.fatal;
  } catch (e) {
    if (e instanceof NoDaemonError) {
      err(e.message);
      return EXIT.unavailable;
    }
    throw e;
  }
}
