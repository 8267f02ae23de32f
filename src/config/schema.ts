/**
 * The config file's one schema. The TypeScript type is inferred from it, the JSON Schema for
 * editors is generated from it, and the README's config reference is checked against it.
 * Keys are snake_case (contracts/cli-config-control.md); unknown keys are errors.
 */
import { hostname } from "node:os";
import { z } from "zod";

const secret = {
  password: z
    .string()
    .min(1)
    .optional()
    .describe('The password inline, or "${ENV_NAME}" to read it from the environment. Prefer password_file.'),
  password_file: z
    .string()
    .min(1)
    .optional()
    .describe(
      "A file holding the password (trailing newline ignored); a relative path is relative to the config file.",
    ),
};

/** Agent ids end up in MQTT topics: no wildcards, no slashes. */
const agentId = z
  .string()
  .regex(
    /^[A-Za-z0-9_.-]{1,64}$/,
    "must be 1-64 letters, digits, '.', '_' or '-' (it is used in MQTT topics)",
  );

const SIP_SCHEMES = ["ws:", "wss:", "tcp:", "tls:"];
const sipServer = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return SIP_SCHEMES.includes(u.protocol) && u.hostname !== "";
    } catch {
      return false;
    }
  },
  {
    message:
      "must be a ws://, wss://, tcp://host:port or tls://host:port URI (UDP is not offered: sip.js has no retransmission timers, use TCP or TLS)",
  },
);

const sipUri = z
  .string()
  .regex(/^sips?:[^@\s]+@[^\s]+$/, "must be a SIP URI such as sip:1017@pbx.example.org");
const sipTarget = z
  .string()
  .regex(/^((sips?|tel):[^\s<>"]+|\+?[0-9*#]{1,32})$/, "must be a SIP URI (sip:2001@pbx) or a number");

const portRange = z.number().int().min(1024).max(65535);

const agent = z
  .strictObject({
    id: agentId
      .default(
        () =>
          hostname()
            .replace(/[^A-Za-z0-9_.-]/g, "-")
            .slice(0, 64) || "cuffia",
      )
      .describe("Unique per box: used in MQTT topics. Default: the hostname."),
    name: z
      .string()
      .max(64)
      .nullable()
      .default(null)
      .describe("Shown on the LCD and in the presence document."),
    language: z.enum(["it", "en", "fr", "es"]).default("it").describe("The LCD's language."),
  })
  .describe("Who this desk is.");

const sip = z
  .strictObject({
    server: sipServer.describe("The registrar/proxy: ws://, wss://, tcp://host:port or tls://host:port."),
    fallback_servers: z
      .array(sipServer)
      .default([])
      .describe("Tried in order when the server is unreachable."),
    aor: sipUri.describe("The agent's extension, sip:user@domain."),
    username: z.string().min(1).optional().describe("Digest user; default: the user part of aor."),
    ...secret,
    display_name: z.string().optional().describe("The caller ID name sent with outgoing calls."),
    auto_answer: z.boolean().default(false).describe("Answer offered calls at once (zip-tone mode)."),
    transfer_targets: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.-]+$/, "target names are letters, digits, '.', '_' or '-'"),
        sipTarget,
      )
      .default({})
      .describe("Names the operator or the switchboard can transfer to."),
    ca_file: z.string().optional().describe("Extra CA certificate (PEM) trusted for wss:// and tls://."),
    tls_verify: z
      .boolean()
      .default(true)
      .describe("Verify the server certificate (never turn off in production)."),
    register_expires: z.number().int().min(60).max(86400).default(600).describe("Seconds asked in REGISTER."),
    keepalive_seconds: z
      .number()
      .int()
      .min(5)
      .max(300)
      .default(20)
      .describe("CRLF keep-alives on the connection."),
    liveness_seconds: z
      .number()
      .int()
      .min(10)
      .max(600)
      .default(60)
      .describe("SIP-level check (OPTIONS) that the registrar still hears us."),
    call_info_headers: z
      .strictObject({
        language: z
          .string()
          .default("X-Caller-Language")
          .describe("The caller's language chosen in the IVR."),
        service: z.string().default("X-Service").describe("The service the caller asked for."),
        queue: z.string().default("X-Queue").describe("The queue the call comes from."),
      })
      .prefault({})
      .describe("Headers of the INVITE carrying the IVR's facts."),
    user_agent: z.string().default("Cuffia").describe("User-Agent header (the version is appended)."),
    accept_refer: z
      .boolean()
      .default(true)
      .describe(
        "Follow the far end's transfers (incoming REFER): call the target; false refuses them (603).",
      ),
  })
  .describe("The SIP account. Absent: no calls (presence and LCD only).");

/** A "host:port" of a STUN server (RFC 8489 §5: port 3478 by default). */
const stunServer = z
  .string()
  .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be "host" or "host:port" (e.g. "stun.example.org:3478")');

const turnServer = z
  .strictObject({
    url: z
      .string()
      .regex(
        /^turn:[A-Za-z0-9.-]+(:\d{1,5})?(\?transport=(udp|tcp))?$/,
        'must be "turn:host[:port][?transport=udp|tcp]" (RFC 7065)',
      )
      .describe('"turn:host:port?transport=udp" (RFC 7065; port 3478 by default).'),
    username: z.string().min(1).describe("TURN long-term credential user name (RFC 8489 §9.2)."),
    ...secret,
  })
  .describe("A TURN relay (RFC 8656) for when no direct path works.");

const ice = z
  .strictObject({
    host_addresses: z
      .array(z.ipv4())
      .min(1)
      .optional()
      .describe(
        "The only addresses host candidates are gathered on; default: rtp.address when it is not 0.0.0.0, else every non-internal IPv4 address of the box.",
      ),
    stun_servers: z
      .array(stunServer)
      .max(1)
      .default([])
      .describe(
        'STUN server for the server-reflexive candidate (the box\'s address seen from outside): ["host:3478"].',
      ),
    turn_servers: z
      .array(turnServer)
      .max(1)
      .default([])
      .describe("TURN relay for the relayed candidate (password_file preferred)."),
    relay_only: z
      .boolean()
      .default(false)
      .describe(
        "Offer only the TURN relay's candidate (like WebRTC's iceTransportPolicy relay): the box's addresses never reach the far end; needs a turn_servers entry.",
      ),
  })
  .refine((i) => !i.relay_only || i.turn_servers.length > 0, {
    message: "relay_only needs a turn_servers entry",
    path: ["relay_only"],
  })
  .prefault({})
  .describe(
    "ICE (RFC 8445) for DTLS-SRTP calls: where candidates come from. Used only when a call is DTLS-SRTP.",
  );

const rtp = z
  .strictObject({
    address: z.string().default("0.0.0.0").describe("Local address RTP binds to."),
    advertise: z
      .string()
      .optional()
      .describe("Address put in SDP; default: the address of the SIP connection."),
    port_min: portRange
      .default(20000)
      .describe("RTP uses even ports from this range, RTCP the odd one above."),
    port_max: portRange.default(20999).describe("Two ports per call."),
    codecs: z
      .array(z.enum(["opus", "g722", "pcma", "pcmu"]))
      .min(1)
      .default(["opus", "g722", "pcma", "pcmu"])
      .describe(
        "Preference order. Wideband first: Opus (48 kHz, RFC 7587), then G.722, then G.711; the far end's offer is answered with the first of these it has.",
      ),
    media_timeout: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(30)
      .describe(
        "Seconds without RTP or RTCP from the far end after which the call is ended (BYE, end_reason media_timeout); 0 = never.",
      ),
    hold_media_timeout: z
      .number()
      .int()
      .min(0)
      .max(86400)
      .default(300)
      .describe("The same while either side holds (RTCP normally keeps flowing on hold); 0 = never."),
    encryption: z
      .enum(["required", "preferred", "off"])
      .default("preferred")
      .describe(
        "Media encryption (SRTP). preferred: SRTP whenever the far end can, clear RTP otherwise; required: refuse (488) and never place a call without it; off: clear RTP only. SDES keys travel only over tls:// or wss:// signalling.",
      ),
    ice,
  })
  .refine((r) => r.port_max > r.port_min, { message: "port_max must be above port_min", path: ["port_max"] })
  .prefault({})
  .describe("Call media (RTP).");

const audioSource = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("microphone"), device: z.string().default("default") }),
  z.strictObject({ type: z.literal("file"), path: z.string().min(1), loop: z.boolean().default(false) }),
  z.strictObject({ type: z.literal("none") }),
]);
const audioSink = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("speaker"), device: z.string().default("default") }),
  z.strictObject({ type: z.literal("file"), path: z.string().min(1) }),
  z.strictObject({ type: z.literal("none") }),
]);
const audio = z
  .strictObject({
    source: audioSource
      .prefault({ type: "microphone" })
      .describe(
        "What the caller hears: the microphone, a WAV file (16-bit mono, paced in real time) or silence.",
      ),
    sink: audioSink
      .prefault({ type: "speaker" })
      .describe(
        "Where the caller's voice goes: the speaker, a WAV file ({call} in the path: one file per call) or nowhere.",
      ),
    latency: z
      .union([
        z.enum(["low", "normal", "safe"]),
        z.strictObject({
          period_ms: z.number().min(2).max(100),
          periods: z.number().int().min(3).max(16),
        }),
      ])
      .default("low")
      .describe(
        "Sound card buffering: low = 10 ms periods, normal = 20 ms (a Pi whose calls underrun with low), safe = 40 ms (a busy Pi), 4 periods of buffer, playback starting after 2; or { period_ms, periods }.",
      ),
    device_rate: z
      .number()
      .int()
      .min(8000)
      .max(192000)
      .optional()
      .describe(
        "Open the sound card at this rate (e.g. 48000 for a headset that does only 16/48 kHz) and resample with a low-pass; default: the call's rate.",
      ),
    realtime_priority: z
      .number()
      .int()
      .min(0)
      .max(99)
      .default(10)
      .describe(
        "Run aplay/arecord at this SCHED_FIFO priority so a busy Pi does not starve the sound card; needs root, CAP_SYS_NICE or RLIMIT_RTPRIO (the .deb's unit sets LimitRTPRIO=10), else logged once and normal priority; 0 = normal priority.",
      ),
  })
  .prefault({})
  .describe('Call audio. device "headset" means the ALSA card of the matched headset.');

const hex16 = z.union([
  z.number().int().min(0).max(0xffff),
  z
    .string()
    .regex(/^(0x)?[0-9a-fA-F]{1,4}$/, "must be a 16-bit id such as 0x0b0e")
    .transform((s) => Number.parseInt(s.replace(/^0x/, ""), 16)),
]);

const headset = z
  .strictObject({
    match: z
      .union([
        z.literal("auto"),
        z.literal("keyboard"),
        z.strictObject({ vendor_id: hex16, product_id: hex16 }),
        z.strictObject({ path: z.string().min(1) }),
      ])
      .default("auto")
      .describe(
        "auto, { vendor_id, product_id }, { path: /dev/hidrawN }, or keyboard (keys on the terminal: demo, development).",
      ),
    ringer: z.boolean().default(true).describe("Also sound the headset's ringer where it has one."),
    idle_hook_off: z
      .union([
        z.literal("ignore"),
        z.strictObject({ dial: sipTarget.or(z.string().regex(/^[A-Za-z0-9_.-]+$/)) }),
      ])
      .default("ignore")
      .describe("Hook-off with nothing ringing: ignore, or { dial: target }."),
  })
  .describe("The USB headset. Absent: no headset (routable without one).");

const lcd = z
  .strictObject({
    port: z.string().min(1).describe('Serial device (/dev/lcd), or "-" for the terminal driver on stdout.'),
    driver: z
      .enum(["matrix-orbital", "sparkfun-serlcd", "crystalfontz", "hd44780-serial", "terminal"])
      .describe("The display's protocol (matrix-orbital also covers Adafruit's USB/serial backpack)."),
    model: z.string().optional().describe("A model of device/lcds/ (geometry, protocol, baud, ROM)."),
    baud: z
      .number()
      .int()
      .refine((b) => [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200].includes(b), {
        message: "must be a standard baud rate (1200 ... 115200)",
      })
      .default(9600)
      .describe("Serial speed."),
    size: z
      .string()
      .regex(/^(16x2|20x2|20x4|40x2|16x4)$/, "must be 16x2, 20x2, 20x4, 16x4 or 40x2")
      .default("20x4")
      .describe("Columns x rows."),
    charset: z.enum(["a00", "a02", "crystalfontz"]).default("a00").describe("The display's character ROM."),
    backlight: z.number().int().min(0).max(255).optional().describe("Set once at start (EEPROM wear)."),
    contrast: z.number().int().min(0).max(255).optional().describe("Set once at start (EEPROM wear)."),
    refresh_seconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(0)
      .describe("Periodic full redraw; 0 = never."),
  })
  .describe("The serial character LCD. Absent: no LCD.");

const mqtt = z
  .strictObject({
    url: z
      .string()
      .refine((s) => s === "embedded" || /^(mqtts?|wss?):\/\/[^\s/]+/.test(s), {
        message: 'must be mqtt://, mqtts://, ws://, wss:// or "embedded"',
      })
      .describe('The broker; "embedded" runs one in the daemon (single-box setups, the demo).'),
    username: z.string().optional().describe("Broker user name."),
    ...secret,
    topic_prefix: z
      .string()
      .regex(/^[^#+\s]+$/, "must not contain #, + or spaces")
      .default("cuffia")
      .describe("P in the topics: P/agents/<agent.id>/..., P/queues/<queue>/stats."),
    queues: z
      .array(z.string().regex(/^[^#+/\s]+$/, "queue ids must not contain #, +, / or spaces"))
      .default([])
      .describe("Queues whose statistics this desk shows (summed on the LCD)."),
    protocol_version: z
      .union([z.literal(5), z.literal(4), z.literal("3.1.1").transform(() => 4 as const)])
      .default(5)
      .describe('5 (default) or "3.1.1".'),
    client_id: z.string().optional().describe("Default cuffia-<agent.id>: must be unique per box."),
    keepalive_seconds: z
      .number()
      .int()
      .min(5)
      .max(300)
      .default(15)
      .describe("The broker declares a dead box offline after 1.5 x this."),
    ca_file: z
      .string()
      .optional()
      .describe("CA (PEM) that signed the broker's certificate (mqtts://, wss://)."),
    cert_file: z.string().optional().describe("Client certificate (PEM), with key_file."),
    key_file: z.string().optional().describe("Client key (PEM), with cert_file."),
    stats_stale_seconds: z
      .number()
      .int()
      .min(5)
      .max(3600)
      .default(120)
      .describe("Queue figures older than this show as unknown."),
    outbox_max_mb: z.number().min(1).max(1024).default(50).describe("Cap of the durable event outbox."),
    max_clock_skew_seconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(30)
      .describe("Commands whose ts is further ahead of the desk's clock than this are refused."),
    response_topic_prefix: z
      .string()
      .regex(/^[^#+\s]+$/, "must not contain #, + or spaces")
      .optional()
      .describe(
        "MQTT 5 response topics allowed besides P/agents/<agent.id>/commands/result: this topic and those under it (never P/agents/... or P/queues/...).",
      ),
    embedded_port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .default(1883)
      .describe('Loopback port of the url "embedded" broker.'),
  })
  .describe("Presence, events and commands over MQTT. Absent: no presence.");

const policy = z
  .strictObject({
    wrap_up_seconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(30)
      .describe("After each answered call, before the desk is routable again; ready ends it early."),
    pause_reasons: z
      .array(z.string().regex(/^[a-z0-9_]{1,32}$/, "reasons are lower-case words (a-z, 0-9, _)"))
      .min(1)
      .default(["break", "training", "back_office"])
      .describe("Reasons an operator or the switchboard may pause with; the first is the pause button's."),
    auto_pause_after_missed: z.number().int().min(0).max(100).default(2).describe("0 disables auto-pause."),
    ring_timeout_seconds: z
      .number()
      .int()
      .min(0)
      .max(600)
      .default(20)
      .describe("0 = ring until the PBX gives up."),
    not_responding_seconds: z
      .number()
      .int()
      .min(0)
      .max(600)
      .default(5)
      .describe("How long a missed offer shows before the desk is idle again."),
  })
  .prefault({})
  .describe("How the desk behaves: wrap-up, pauses, missed calls.");

const control = z
  .strictObject({
    socket: z.string().min(1).default("/run/cuffia/control.sock").describe("The control socket (mode 0660)."),
    max_clients: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .default(32)
      .describe("Clients served at once; one more gets an error line and is closed."),
  })
  .prefault({})
  .describe("The local control socket (cuffia ctl, scripts).");

const log = z
  .strictObject({
    level: z
      .enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"])
      .default("info")
      .describe("Applied at once on reload."),
  })
  .prefault({})
  .describe("Logging (JSON lines on stdout, for journald).");

export const configSchema = z
  .strictObject({
    agent: agent.prefault({}),
    sip: sip.optional(),
    rtp,
    audio,
    headset: headset.optional(),
    lcd: lcd.optional(),
    mqtt: mqtt.optional(),
    policy,
    control,
    log,
    state_dir: z
      .string()
      .min(1)
      .default("/var/lib/cuffia")
      .describe("Durable data: event outbox, agent status."),
  })
  .describe("Cuffia desk configuration");

/** The config as parsed from the file, before secrets are read. */
export type ConfigInput = z.input<typeof configSchema>;
type Parsed = z.output<typeof configSchema>;

/** What the daemon runs with: secrets resolved, frozen. */
type ParsedTurn = Parsed["rtp"]["ice"]["turn_servers"][number];
/** A TURN server with its password read (rtp.ice.turn_servers). */
export type TurnServerConfig = Omit<ParsedTurn, "password" | "password_file"> & { readonly password: string };

export type Config = Readonly<
  Omit<Parsed, "sip" | "mqtt" | "rtp"> & {
    rtp: Omit<Parsed["rtp"], "ice"> & {
      ice: Omit<Parsed["rtp"]["ice"], "turn_servers"> & { turn_servers: readonly TurnServerConfig[] };
    };
    sip?: Omit<NonNullable<Parsed["sip"]>, "password" | "password_file"> & {
      readonly password: string;
      readonly username: string;
    };
    mqtt?: Omit<NonNullable<Parsed["mqtt"]>, "password" | "password_file"> & { readonly password?: string };
  }
>;

export type ParsedConfig = Parsed;

export function jsonSchema(): unknown {
  const schema = z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }) as unknown as {
    properties: { agent: { properties: { id: { default?: unknown } } } };
  };
  // The default is this machine's hostname: not a fact about the schema.
  delete schema.properties.agent.properties.id.default;
  return schema;
}
