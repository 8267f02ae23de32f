/**
 * `cuffia doctor`'s ICE checks (rtp.ice): each STUN server answers a Binding request (the mapped
 * address it saw is shown: the box's address on the internet), each TURN server accepts the
 * credentials (an Allocate that succeeds, released at once). Skipped without servers.
 */
import type { Config } from "../config/schema.js";
import { parseHostPort, parseTurnServer } from "../media/options.js";
import { StunRefused, stunBinding, turnAllocate } from "../media/stun-probe.js";
import { type Finding, finding } from "./doctor-report.js";

export async function iceChecks(c: Config, waitMs: number): Promise<Finding[]> {
  const { stun_servers, turn_servers } = c.rtp.ice;
  if (stun_servers.length === 0 && turn_servers.length === 0)
    return [finding("ice", "skip", "no STUN or TURN server configured (rtp.ice): host candidates only")];
  const stun = stun_servers.map(async (text) => {
    const server = parseHostPort(text, 3478);
    try {
      const mapped = await stunBinding(server, waitMs);
      return finding("stun", "ok", `${text} answers; this box is seen as ${mapped.host}:${mapped.port}`);
    } catch (e) {
      return finding(
        "stun",
        "fail",
        `${text}: ${(e as Error).message}`,
        "check the host and port (UDP 3478 by default) and that the firewall lets UDP out",
      );
    }
  });
  const turn = turn_servers.map(async (t) => {
    const server = parseTurnServer(t);
    const where = `${server.host}:${server.port}`;
    try {
      const r = await turnAllocate(server, waitMs);
      return finding(
        "turn",
        "ok",
        `${t.url} accepts ${t.username}; relayed address ${r.relayed.host}:${r.relayed.port}`,
      );
    } catch (e) {
      if (e instanceof StunRefused && e.status === 401)
        return finding(
          "turn",
          "fail",
          `${where} refuses the credentials of ${t.username} (401 ${e.reason})`,
          "check rtp.ice.turn_servers username and password_file",
        );
      return finding(
        "turn",
        "fail",
        `${where}: ${(e as Error).message}`,
        "check the url (turn:host:port?transport=udp) and that the firewall lets UDP out",
      );
    }
  });
  return Promise.all([...stun, ...turn]);
}
