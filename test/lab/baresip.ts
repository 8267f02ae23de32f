/**
 * baresip 1.0 as a headless far end (see shared/reference/sip-lab.md): registers over UDP to
 * the lab Kamailio, plays a WAV file (aufile) to the far end, discards what it receives
 * (aubridge player: paced, unlike ALSA's null device which spins a core), records both
 * directions per call (sndfile), and is driven over ctrl_tcp (netstring-framed JSON).
 *
 * Custom headers on dial: baresip 1.0 has no command that adds headers to an INVITE (the
 * library's ua_set_custom_hdrs() is not reachable from any module). The lab Kamailio therefore
 * keeps a one-shot table `xhdr` (user => base64 header block): dial() stores the headers there
 * over kamcmd, and Kamailio appends them to this user's next authenticated INVITE. The callee
 * sees them exactly as if baresip had sent them. SIPp (sipp.ts) sends them natively.
 */
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeSilence } from "./audio.js";
import type { Kamailio } from "./kamailio.js";
import type { HomeNat } from "./netns.js";
import { freePort } from "./ports.js";
import { execFileAsync, type Spawned, spawnLogged, stopProcess, waitUntil } from "./proc.js";

export type BaresipEvent = Record<string, unknown> & { type?: string; class?: string };

export interface Baresip {
  readonly pid: number;
  readonly user: string;
  /** SIP port (UDP and TCP; baresip also listens on port + 1 for TLS). */
  readonly port: number;
  /** AoR, e.g. sip:2001@127.0.0.1 */
  readonly aor: string;
  readonly dir: string;
  readonly recordDir: string;
  /** baresip's stdout/stderr (with `sipTrace`, every SIP message sent and received). */
  readonly logFile: string;
  /**
   * Dials `uri`; `headers` reach the callee in the INVITE (see the file comment). Events received
   * before the dial are marked consumed.
   */
  dial(uri: string, headers?: Record<string, string>): Promise<void>;
  accept(): Promise<void>;
  hangup(): Promise<void>;
  /** Sends RFC 4733 telephone-events for each character (0-9, *, #, A-D) in the current call. */
  sendDtmf(digits: string): Promise<void>;
  /**
   * Resolves with the next not-yet-consumed event of this type (events that arrived before the
   * call count, so there is no race between an action and waiting for its outcome). Each event
   * is returned once.
   */
  waitFor(event: string, timeoutMs?: number): Promise<BaresipEvent>;
  /** Marks every event received so far as consumed (dial() does this itself). */
  skip(): void;
  /** Every event received so far, in order. */
  readonly events: ReadonlyArray<BaresipEvent>;
  /** Whether baresip's own registration state (`reginfo`) is OK. */
  isRegistered(): Promise<boolean>;
  /** Sends any ctrl_tcp command (e.g. "listcalls", "reginfo") and returns its response data. */
  command(command: string, params?: string): Promise<string>;
  /** WAV files written by sndfile (dump-<peer>-<time>-enc.wav is sent, -dec.wav received). */
  recordings(): Promise<string[]>;
  stop(): Promise<void>;
}

export interface BaresipOptions {
  kamailio: Kamailio;
  user: string;
  /** SIP port; port + 1 must be free too (use baresipPort() from ports.ts). */
  port: number;
  /** Answer incoming calls at once (`;answermode=auto`). */
  autoAnswer?: boolean;
  /** 8 kHz mono S16 WAV played to the far end; the call ends when the file ends (aufile). */
  audioFile?: string;
  /** Record both directions of every call with sndfile into recordDir. */
  record?: boolean;
  /** REGISTER interval in seconds (default 600; Kamailio's minimum is 10). */
  regint?: number;
  /** Log every SIP message into baresip.log (`baresip -s`); lets tests read what arrived. */
  sipTrace?: boolean;
  /**
   * Media encryption (account `mediaenc`): "srtp" (best effort), "srtp-mand", "srtp-mandf",
   * "dtls_srtp" (DTLS-SRTP, answers UDP/TLS/RTP/SAVP(F))... Loads the srtp or dtls_srtp module.
   */
  mediaenc?: "srtp" | "srtp-mand" | "srtp-mandf" | "dtls_srtp" | "dtls_srtpf";
  /**
   * Media NAT traversal (account `medianat`): "ice", "stun", "turn". baresip 1.0's `ice` offers
   * every non-loopback address it sees, never 127.0.0.1: "ice" is refused without `netns` (e.g. a
   * createVethLink() namespace, where its only address is the link's end), so no test's ICE
   * offers or checks an address of the machine (eth0's).
   */
  medianat?: "ice" | "stun" | "turn";
  /** STUN/TURN server for `medianat` (account `stunserver`, e.g. coturn's `stunUrl`/`turnUrl`). */
  stunServer?: { url: string; username?: string; password?: string };
  /** `rtcp_mux yes` (RTP and RTCP on one port, RFC 5761); default no. */
  rtcpMux?: boolean;
  /**
   * Run inside a network namespace of netns.ts (e.g. behind createHomeNat()'s router), SIP and
   * media on `address`. The control connection goes through a unix socket bridged into the
   * namespace by socat (the test process cannot reach the namespace's ports).
   */
  netns?: { readonly ns: string; readonly address: string; readonly nat: Pick<HomeNat, "spawn"> };
  /** Directory for config, uuid, log and recordings; a fresh temp dir when absent. */
  dir?: string;
  /** Milliseconds to wait for the first REGISTER_OK (default 10 s). */
  registerTimeoutMs?: number;
  /**
   * A sound card instead of aufile/aubridge: baresip's `alsa` module on these ALSA PCMs (its own
   * period = ptime, buffer = 4 periods), with `env` (e.g. the lab card's ALSA_CONFIG_PATH).
   */
  alsa?: { source: string; player: string; env?: Record<string, string> };
  /** `jitter_buffer_delay` in frames, "min-max" (default "5-10", baresip's own default). */
  jitterBuffer?: string;
  /** `audio_buffer` in ms, "min-max" (default "20-160", baresip's own default). */
  audioBuffer?: string;
  /**
   * The account's codecs, preferred first, by baresip's names (default ["pcmu", "pcma"]);
   * "opus" and "g722" load their modules (Opus with in-band FEC; baresip's own stereo default,
   * which registers it as opus/48000/2 as RFC 7587 writes it).
   */
  audioCodecs?: readonly string[];
  /**
   * Opus encoder settings of baresip's opus module (`opus_complexity` 0-10, `opus_application`),
   * e.g. the daemon's own for a fair benchmark; absent: baresip's defaults (complexity 10, audio).
   */
  opusEncoder?: { readonly complexity: number; readonly application: "voip" | "audio" };
  /**
   * `opus_packet_loss`: the loss (%) the Opus encoder expects. libopus codes in-band FEC only when
   * it is above 0 (opus_inbandfec alone is not enough); absent: baresip's default (0).
   */
  opusPacketLoss?: number;
}

/** Encodes one netstring frame. */
function netstring(payload: string): Buffer {
  const body = Buffer.from(payload, "utf8");
  return Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(",")]);
}

/** Splits complete netstring frames off the front of `buffer`. */
export function readNetstrings(buffer: Buffer): { frames: string[]; rest: Buffer } {
  const frames: string[] = [];
  let rest = buffer;
  for (;;) {
    const colon = rest.indexOf(0x3a);
    if (colon < 0) break;
    const length = Number(rest.subarray(0, colon).toString("ascii"));
    if (!Number.isInteger(length)) throw new Error(`bad netstring length: ${rest.subarray(0, colon)}`);
    const end = colon + 1 + length;
    if (rest.length < end + 1) break;
    frames.push(rest.subarray(colon + 1, end).toString("utf8"));
    rest = rest.subarray(end + 1);
  }
  return { frames, rest };
}

interface Pending {
  resolve: (data: string) => void;
  reject: (error: Error) => void;
}

export async function startBaresip(opts: BaresipOptions): Promise<Baresip> {
  const { kamailio, user, port } = opts;
  const password = kamailio.users[user];
  if (password === undefined) throw new Error(`user ${user} is not a lab user`);
  if (opts.medianat === "ice" && !opts.netns) {
    throw new Error(
      "baresip's ice module offers every non-loopback address of the machine (eth0's), never loopback: " +
        "run it in a namespace the test made (netns: { ns, address, nat } of createVethLink())",
    );
  }
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), `cuffia-baresip-${user}-`)));
  const recordDir = join(dir, "rec");
  await mkdir(recordDir, { recursive: true });
  const ctrlPort = await freePort();
  // Media encryption and NAT traversal modules (mediaenc, medianat options).
  const mediaModules = [
    ...(opts.mediaenc?.startsWith("srtp") ? ["srtp.so"] : []),
    ...(opts.mediaenc?.startsWith("dtls_srtp") ? ["dtls_srtp.so"] : []),
    ...(opts.medianat ? [`${opts.medianat}.so`] : []),
  ];
  const audioFile = opts.audioFile ?? (await makeSilence(join(dir, "silence.wav"), 180));
  const aor = `sip:${user}@${kamailio.domain}`;
  const device = `cuffia-${port}`;

  const audioCodecs = opts.audioCodecs ?? ["pcmu", "pcma"];
  const modules = [
    "g711.so",
    ...(audioCodecs.includes("opus") ? ["opus.so"] : []),
    ...(audioCodecs.includes("g722") ? ["g722.so"] : []),
    ...(opts.alsa ? ["alsa.so"] : ["aufile.so", "aubridge.so"]),
    ...(opts.record ? ["sndfile.so"] : []),
    ...mediaModules,
  ];
  const config = [
    "poll_method epoll",
    `sip_listen ${opts.netns?.address ?? kamailio.domain}:${port}`,
    `net_interface ${opts.netns?.address ?? "127.0.0.1"}`,
    // Keeps baresip off resolv.conf; nothing is resolved (all URIs carry IP addresses).
    "dns_server 127.0.0.1:53",
    "call_local_timeout 120",
    "call_max_calls 4",
    ...(opts.alsa
      ? [
          `audio_player alsa,${opts.alsa.player}`,
          `audio_alert alsa,${opts.alsa.player}`,
          `audio_source alsa,${opts.alsa.source}`,
        ]
      : [
          `audio_player aubridge,${device}`,
          `audio_alert aubridge,${device}-alert`,
          `audio_source aufile,${audioFile}`,
        ]),
    "audio_path /usr/share/baresip",
    "ausrc_format s16",
    "auplay_format s16",
    "auenc_format s16",
    "audec_format s16",
    `audio_buffer ${opts.audioBuffer ?? "20-160"}`,
    "rtp_ports 10000-20000",
    `rtcp_mux ${opts.rtcpMux ? "yes" : "no"}`,
    `jitter_buffer_delay ${opts.jitterBuffer ?? "5-10"}`,
    "rtp_stats no",
    ...(audioCodecs.includes("opus") ? ["opus_inbandfec yes", "opus_bitrate 32000"] : []),
    ...(audioCodecs.includes("opus") && opts.opusEncoder
      ? [`opus_complexity ${opts.opusEncoder.complexity}`, `opus_application ${opts.opusEncoder.application}`]
      : []),
    ...(audioCodecs.includes("opus") && opts.opusPacketLoss !== undefined
      ? [`opus_packet_loss ${opts.opusPacketLoss}`]
      : []),
    "module_path /usr/lib/baresip/modules",
    ...modules.map((m) => `module ${m}`),
    "module_tmp uuid.so",
    "module_tmp account.so",
    "module_app menu.so",
    "module_app ctrl_tcp.so",
    `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
    `snd_path ${recordDir}`,
    "",
  ].join("\n");
  const params = [
    ...(opts.mediaenc ? [`mediaenc=${opts.mediaenc}`] : []),
    ...(opts.medianat ? [`medianat=${opts.medianat}`] : []),
    ...(opts.stunServer ? [`stunserver=${opts.stunServer.url}`] : []),
    ...(opts.stunServer?.username ? [`stunuser=${opts.stunServer.username}`] : []),
    ...(opts.stunServer?.password ? [`stunpass=${opts.stunServer.password}`] : []),
    `auth_pass=${password}`,
    `outbound="sip:${kamailio.domain}:${kamailio.udpPort};transport=udp"`,
    `regint=${opts.regint ?? 600}`,
    `answermode=${opts.autoAnswer ? "auto" : "manual"}`,
    // baresip looks codecs up by name/rate/channels, the rate defaulting to 8000.
    `audio_codecs=${audioCodecs.map((c) => (c === "opus" ? "opus/48000/2" : c)).join(",")}`,
  ];
  await writeFile(join(dir, "config"), config);
  await writeFile(join(dir, "accounts"), `<${aor};transport=udp>;${params.join(";")}\n`);
  await writeFile(join(dir, "contacts"), "");
  // Kamailio rejects the REGISTER when the instance id carries a trailing newline.
  await writeFile(join(dir, "uuid"), randomUUID());

  const logFile = join(dir, "baresip.log");
  const baresipArgs = ["-f", dir, ...(opts.sipTrace ? ["-s"] : [])];
  const proc: Spawned = opts.netns
    ? opts.netns.nat.spawn(opts.netns.ns, "baresip", baresipArgs, logFile, { cwd: dir })
    : spawnLogged("baresip", baresipArgs, logFile, {
        cwd: dir,
        stdin: "ignore",
        ...(opts.alsa?.env ? { env: { ...process.env, ...opts.alsa.env } } : {}),
      });
  // In a namespace: a unix socket (a file, reachable from here) bridged to ctrl_tcp inside it.
  const ctrlSocket = join(dir, "ctrl.sock");
  const bridge: Spawned | null = opts.netns
    ? opts.netns.nat.spawn(
        opts.netns.ns,
        "socat",
        [`UNIX-LISTEN:${ctrlSocket},fork,unlink-early`, `TCP:127.0.0.1:${ctrlPort}`],
        join(dir, "ctrl-bridge.log"),
      )
    : null;
  let exitedWith: number | string | null = null;
  void proc.exited.then((code) => {
    exitedWith = code;
  });

  const events: BaresipEvent[] = [];
  const consumed = new Set<BaresipEvent>();
  const waiters = new Set<() => void>();
  const pending = new Map<string, Pending>();
  let tokenCounter = 0;
  let socket: Socket | null = null;
  let inbox: Buffer = Buffer.alloc(0);

  const notify = (): void => {
    for (const w of [...waiters]) w();
  };

  const onFrame = (frame: string): void => {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(frame) as Record<string, unknown>;
    } catch {
      return;
    }
    if (message.event === true) {
      events.push(message as BaresipEvent);
      notify();
    } else if (message.response === true && typeof message.token === "string") {
      const p = pending.get(message.token);
      if (!p) return;
      pending.delete(message.token);
      const data = typeof message.data === "string" ? message.data : "";
      if (message.ok === false) p.reject(new Error(`baresip ${user}: command failed: ${data}`));
      else p.resolve(data);
    }
  };

  const logTail = async (): Promise<string> => {
    const log = await readFile(logFile, "utf8").catch(() => "");
    return `--- ${logFile} (tail)\n${log.split("\n").slice(-25).join("\n")}`;
  };

  const connect = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const s = bridge
        ? createConnection({ path: ctrlSocket })
        : createConnection({ host: "127.0.0.1", port: ctrlPort });
      s.once("connect", () => resolve(s));
      s.once("error", reject);
    });

  try {
    socket = await waitUntil(
      `baresip ${user} ctrl_tcp on ${ctrlPort}`,
      async () => {
        if (exitedWith !== null) throw new Error(`baresip exited (${exitedWith})`);
        if (opts.netns) {
          // The bridge accepts before ctrl_tcp listens: probe the port inside the namespace first.
          const up = await execFileAsync("ip", [
            "netns",
            "exec",
            opts.netns.ns,
            "socat",
            "-u",
            "/dev/null",
            `TCP:127.0.0.1:${ctrlPort}`,
          ]).then(
            () => true,
            () => false,
          );
          if (!up) return undefined;
        }
        return connect().catch(() => undefined);
      },
      10_000,
    );
  } catch (error) {
    await stopProcess(proc);
    if (bridge) await stopProcess(bridge);
    throw new Error(`${(error as Error).message}\n${await logTail()}`);
  }
  socket.on("data", (chunk: Buffer) => {
    const { frames, rest } = readNetstrings(Buffer.concat([inbox, chunk]));
    inbox = rest;
    for (const f of frames) onFrame(f);
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    for (const [, p] of pending) p.reject(new Error(`baresip ${user}: control connection closed`));
    pending.clear();
    notify();
  });

  const command = (name: string, paramsText?: string): Promise<string> => {
    const s = socket;
    if (!s || s.destroyed) return Promise.reject(new Error(`baresip ${user}: not connected`));
    const token = `t${++tokenCounter}`;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(token);
        reject(new Error(`baresip ${user}: no response to ${name} within 5 s`));
      }, 5000);
      pending.set(token, {
        resolve: (d) => {
          clearTimeout(timer);
          resolve(d);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const payload: Record<string, string> = { command: name, token };
      if (paramsText !== undefined) payload.params = paramsText;
      s.write(netstring(JSON.stringify(payload)));
    });
  };

  const waitFor = (type: string, timeoutMs = 10_000): Promise<BaresipEvent> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = events.find((e) => e.type === type && !consumed.has(e));
        if (found) {
          consumed.add(found);
          finish();
          resolve(found);
          return true;
        }
        if (exitedWith !== null) {
          finish();
          reject(new Error(`baresip ${user} exited (${exitedWith}) while waiting for ${type}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        const seen = events.map((e) => e.type).join(", ");
        reject(new Error(`baresip ${user}: no ${type} within ${timeoutMs} ms (events: ${seen})`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        waiters.delete(listener);
      };
      const listener = (): void => {
        check();
      };
      waiters.add(listener);
      check();
    });

  void proc.exited.then(() => notify());

  const isRegistered = async (): Promise<boolean> => {
    if (exitedWith !== null) throw new Error(`baresip exited (${exitedWith})`);
    // "> sip:2001@127.0.0.1   OK  cuffia-lab Expires 600s", with ANSI colours around OK.
    const info = (await command("reginfo")).replace(/\x1b\[[0-9;]*m/g, "");
    return new RegExp(`${aor.replace(/[.]/g, "\\.")}\\s+OK\\b`).test(info);
  };

  // SIGTERM makes baresip unregister (so the shared Kamailio forgets the contact) and exit once
  // the registrar answers; a second SIGTERM exits at once (registrar gone), SIGKILL last.
  const stop = async (): Promise<void> => {
    socket?.destroy();
    await stopProcess(proc, 2000, ["SIGTERM", "SIGTERM"]);
    if (bridge) await stopProcess(bridge);
  };

  try {
    // baresip registers as soon as it starts, usually before the control connection is up, so
    // its REGISTER_OK event is not seen here: ask for the registration state instead.
    await waitUntil(`baresip ${user} registered`, isRegistered, opts.registerTimeoutMs ?? 10_000, 100);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${await logTail()}`);
  }

  return {
    pid: proc.pid,
    user,
    port,
    aor,
    dir,
    recordDir,
    logFile,
    events,
    command,
    waitFor,
    isRegistered,
    skip() {
      for (const e of events) consumed.add(e);
    },
    async dial(uri, headers) {
      // A new call starts a new story: events of earlier calls must not satisfy its waits.
      for (const e of events) consumed.add(e);
      const entries = Object.entries(headers ?? {});
      if (entries.length > 0) {
        const block = entries.map(([name, value]) => `${name}: ${value}\r\n`).join("");
        await kamailio.rpc("htable.sets", "xhdr", `s:${user}`, `s:${Buffer.from(block).toString("base64")}`);
      }
      await command("dial", uri);
    },
    async accept() {
      await command("accept");
    },
    async hangup() {
      await command("hangup");
    },
    async sendDtmf(digits) {
      await command("sndcode", digits);
    },
    async recordings() {
      const names = await readdir(recordDir).catch(() => [] as string[]);
      return names.filter((n) => n.endsWith(".wav")).map((n) => join(recordDir, n));
    },
    stop,
  };
}

/** One SIP message of a baresip `sipTrace` log, with where it went. */
export interface TracedSip {
  /** "UDP", "TCP", "TLS" as baresip prints it. */
  readonly transport: string;
  /** "127.0.0.1:5060" */
  readonly from: string;
  readonly to: string;
  /** The message as text (start line, headers, blank line, body). */
  readonly message: string;
}

/**
 * The SIP messages of a baresip log written with `sipTrace: true` (`baresip -s` prints each as
 * `ESC[36;1m#`, `UDP a -> b`, the message, `ESC[;m`), in order. Those sent by this baresip have
 * `from` equal to its own address (`127.0.0.1:${port}`), those received `to` equal to it.
 */
export async function readSipTrace(logFile: string): Promise<TracedSip[]> {
  const log = await readFile(logFile, "utf8");
  const found: TracedSip[] = [];
  for (const block of log.split("\x1b[36;1m#").slice(1)) {
    const text = block.replace(/^\r?\n/, "");
    const end = text.indexOf("\x1b[;m");
    const body = end < 0 ? text : text.slice(0, end);
    const nl = body.indexOf("\n");
    const m = /^(\S+) (\S+) -> (\S+)/.exec(body.slice(0, nl));
    if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) continue;
    found.push({ transport: m[1], from: m[2], to: m[3], message: body.slice(nl + 1) });
  }
  return found;
}
