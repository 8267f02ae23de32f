/**
 * tshark as the benchmark's clock (sip-lab.md: SIPp's own statistics have 1 ms granularity).
 * Capture on `lo` (or the one interface a caller's SIP crosses, e.g. a veth link's root end),
 * always with a capture filter, to a file: nothing is dissected while the
 * measured processes run (a live dissector would compete with them for the machine's 2 cores).
 * The file is dissected afterwards into plain rows.
 */
import { readFile } from "node:fs/promises";
import { execFileAsync, type Spawned, spawnLogged, stopProcess, waitUntil } from "../lab/proc.js";

export interface Capture {
  readonly file: string;
  readonly pid: number;
  /** Stops the capture (SIGINT to the tshark we started, by pid) and waits for the file. */
  stop(): Promise<void>;
}

/** Starts `tshark -i IFACE -f FILTER -w FILE` (IFACE lo unless told) and resolves once it captures. */
export async function startCapture(file: string, filter: string, iface = "lo"): Promise<Capture> {
  const logFile = `${file}.log`;
  const proc: Spawned = spawnLogged("tshark", ["-i", iface, "-f", filter, "-w", file, "-q"], logFile);
  await waitUntil(
    `tshark capturing (${filter})`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(await readFile(logFile, "utf8"));
      return (await readFile(logFile, "utf8").catch(() => "")).includes("Capturing on");
    },
    10_000,
  );
  return {
    file,
    pid: proc.pid,
    async stop() {
      await stopProcess(proc, 5000, ["SIGINT"]);
    },
  };
}

/** Dissects a capture file into rows of the requested fields (tab separated, first occurrence). */
export async function readFields(
  file: string,
  fields: readonly string[],
  opts: {
    readonly display?: string;
    readonly decodeAs?: readonly string[];
    readonly prefs?: readonly string[];
  },
): Promise<string[][]> {
  const args = ["-r", file, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"];
  for (const d of opts.decodeAs ?? []) args.push("-d", d);
  for (const o of opts.prefs ?? []) args.push("-o", o);
  if (opts.display) args.push("-Y", opts.display);
  for (const f of fields) args.push("-e", f);
  const { stdout } = await execFileAsync("tshark", args, { maxBuffer: 256 * 1024 * 1024 });
  return stdout
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => l.split("\t"));
}

/** One SIP message seen on the wire. */
export interface SipPacket {
  readonly time: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly callId: string;
  /** Request method, or "" for a response. */
  readonly method: string;
  /** Response status, or 0 for a request. */
  readonly status: number;
  readonly cseqMethod: string;
  readonly cseq: number;
}

/**
 * SIP messages of a capture. `wsPorts` are WebSocket ports whose handshake happened before the
 * capture began (decoded as WebSocket, then SIP inside); `sipTcpPorts` carry SIP on TCP.
 */
export async function sipPackets(
  file: string,
  ports: { readonly wsPorts?: readonly number[]; readonly sipPorts?: readonly number[] },
): Promise<SipPacket[]> {
  const decodeAs = [
    ...(ports.wsPorts ?? []).map((p) => `tcp.port==${p},websocket`),
    ...(ports.sipPorts ?? []).flatMap((p) => [`tcp.port==${p},sip`, `udp.port==${p},sip`]),
  ];
  const rows = await readFields(
    file,
    [
      "frame.time_epoch",
      "tcp.srcport",
      "udp.srcport",
      "tcp.dstport",
      "udp.dstport",
      "sip.Call-ID",
      "sip.Method",
      "sip.Status-Code",
      "sip.CSeq.method",
      "sip.CSeq.seq",
    ],
    // Without the upgrade handshake in the capture the WebSocket dissector does not know the
    // `sip` subprotocol: its text frames are handed to SIP by preference.
    { display: "sip", decodeAs, prefs: ["websocket.text_type:As SIP"] },
  );
  return rows.map(([time, ts, us, td, ud, callId, method, status, cseqMethod, cseq]) => ({
    time: Number(time) * 1000,
    srcPort: Number(ts || us),
    dstPort: Number(td || ud),
    callId: callId ?? "",
    method: method ?? "",
    status: Number(status || 0),
    cseqMethod: cseqMethod ?? "",
    cseq: Number(cseq || 0),
  }));
}
