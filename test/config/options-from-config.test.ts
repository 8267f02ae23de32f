/**
 * Each side's options from a parsed config (`…OptionsFromConfig`, next to each options type):
 * the shapes the sides took when wiring.ts mapped the keys by hand (issue 12: same values).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LATENCY_PROFILES } from "../../src/audio/latency.js";
import { audioOptionsFromConfig, wantsHeadsetCard } from "../../src/audio/options.js";
import { parseConfig } from "../../src/config/load.js";
import { controlOptionsFromConfig } from "../../src/control/control-server.js";
import { headsetOptionsFromConfig } from "../../src/headset/options.js";
import { lcdOptionsFromConfig } from "../../src/lcd/options.js";
import { rtpNeedsLocalAddress, rtpOptionsFromConfig, sipSignallingSecure } from "../../src/media/options.js";
import { presenceOptionsFromConfig } from "../../src/presence/options.js";
import { sipOptionsFromConfig } from "../../src/sip/options.js";

const dir = mkdtempSync(join(tmpdir(), "cuffia-options-"));
writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\n");
const parse = (yaml: string) =>
  parseConfig(yaml, join(dir, "config.yaml"), { env: {}, hostChecks: false }).config;

const FULL = parse(`
agent: { id: desk-17, name: Maria, language: fr }
sip:
  server: wss://pbx.example.org:8089/ws
  fallback_servers: [tls://pbx2.example.org:5061]
  aor: sip:1017@pbx.example.org
  username: u1017
  password: s3cret
  display_name: Desk 17
  ca_file: ${join(dir, "ca.pem")}
  tls_verify: false
  register_expires: 300
  keepalive_seconds: 20
  liveness_seconds: 45
  user_agent: Desk
  accept_refer: false
rtp: { address: 192.0.2.10, port_min: 20000, port_max: 20099, codecs: [pcma], media_timeout: 12, hold_media_timeout: 60 }
audio:
  source: { type: microphone, device: headset }
  sink: { type: speaker, device: "plughw:1,0" }
  latency: low
  device_rate: 48000
  realtime_priority: 5
headset: { match: { vendor_id: 0x0b0e, product_id: 0x245e }, ringer: false }
lcd: { port: /dev/lcd, driver: matrix-orbital, size: 16x2, baud: 19200, charset: a02, backlight: 128, contrast: 90, refresh_seconds: 30, model: mo-lk162 }
mqtt:
  url: mqtts://broker.example.org:8883
  username: desk17
  password: m9tt
  topic_prefix: cc
  queues: [it, en]
  protocol_version: 4
  client_id: desk-17-a
  keepalive_seconds: 15
  ca_file: ${join(dir, "ca.pem")}
  stats_stale_seconds: 90
  outbox_max_mb: 1.5
  max_clock_skew_seconds: 10
  response_topic_prefix: cc/replies
`);

describe("optionsFromConfig", () => {
  it("sip: servers in order, camelCase keys, the version after the User-Agent", () => {
    expect(sipOptionsFromConfig(FULL, "1.2.3")).toEqual({
      servers: ["wss://pbx.example.org:8089/ws", "tls://pbx2.example.org:5061"],
      aor: "sip:1017@pbx.example.org",
      username: "u1017",
      password: "s3cret",
      displayName: "Desk 17",
      caFile: join(dir, "ca.pem"),
      rejectUnauthorized: false,
      registerExpires: 300,
      keepAliveSeconds: 20,
      livenessSeconds: 45,
      callInfoHeaders: { language: "X-Caller-Language", service: "X-Service", queue: "X-Queue" },
      userAgent: "Desk/1.2.3",
      acceptRefer: false,
    });
  });

  it("rtp: seconds to ms; the announced address is advertise, else the bound one, else the found one", () => {
    expect(rtpNeedsLocalAddress(FULL)).toBe(false);
    expect(rtpOptionsFromConfig(FULL, undefined)).toEqual({
      address: "192.0.2.10",
      announce: "192.0.2.10",
      portMin: 20000,
      portMax: 20099,
      codecs: ["pcma"],
      mediaTimeoutMs: 12_000,
      holdMediaTimeoutMs: 60_000,
      encryption: "preferred",
      // rtp.ice absent: host candidates on the bound address only, no STUN/TURN
      ice: { hostAddresses: ["192.0.2.10"] },
      // wss:// signalling: our calls offer DTLS-SRTP with ICE
      offerDtls: true,
    });
    const any = parse("rtp: { address: 0.0.0.0 }\n");
    expect(rtpNeedsLocalAddress(any)).toBe(true);
    expect(rtpOptionsFromConfig(any, "10.1.2.3").announce).toBe("10.1.2.3");
    const advertised = parse("rtp: { address: 0.0.0.0, advertise: 203.0.113.5 }\n");
    expect(rtpNeedsLocalAddress(advertised)).toBe(false);
    expect(rtpOptionsFromConfig(advertised, undefined).announce).toBe("203.0.113.5");
  });

  it("rtp.encryption, and whether SDES may travel: only when every SIP server is tls:// or wss://", () => {
    expect(rtpOptionsFromConfig(parse("rtp: { encryption: required }\n"), undefined).encryption).toBe(
      "required",
    );
    const sip = (server: string, fallback: string[] = []) =>
      parse(
        `sip: { server: "${server}", fallback_servers: ${JSON.stringify(fallback)}, aor: "sip:1@pbx", password: x }\n`,
      );
    expect(sipSignallingSecure(sip("tls://pbx:5061"))).toBe(true);
    expect(sipSignallingSecure(sip("wss://pbx/ws"))).toBe(true);
    expect(sipSignallingSecure(sip("tcp://pbx:5060"))).toBe(false);
    expect(sipSignallingSecure(sip("ws://pbx/ws"))).toBe(false);
    expect(sipSignallingSecure(sip("tls://pbx:5061", ["tcp://pbx2:5060"]))).toBe(false);
    expect(sipSignallingSecure(parse("rtp: {}\n"))).toBe(false);
  });

  it("audio: the headset's card where `device: headset`, the latency profile and the card's rate", () => {
    expect(wantsHeadsetCard(FULL)).toBe(true);
    const driving = { latency: LATENCY_PROFILES.low, deviceRate: 48000, realtimePriority: 5 };
    expect(audioOptionsFromConfig(FULL, "plughw:2,0")).toEqual({
      source: { type: "microphone", device: "plughw:2,0", ...driving },
      sink: { type: "speaker", device: "plughw:1,0", ...driving },
    });
    expect(audioOptionsFromConfig(FULL, undefined).source).toMatchObject({ device: "default" });
    // aplay/arecord at real-time priority unless the config says 0 (src/audio/realtime.ts).
    expect(audioOptionsFromConfig(parse("audio: {}\n"), undefined).sink).toMatchObject({
      realtimePriority: 10,
    });
    expect(
      audioOptionsFromConfig(parse("audio: { realtime_priority: 0 }\n"), undefined).source,
    ).toMatchObject({ realtimePriority: 0 });
  });

  it("headset: vendor and product ids; none for the keyboard headset", () => {
    expect(headsetOptionsFromConfig(FULL)).toEqual({
      match: { vendorId: 0x0b0e, productId: 0x245e },
      ringer: false,
    });
    expect(headsetOptionsFromConfig(parse("headset: { match: keyboard }\n"))).toBeUndefined();
    expect(headsetOptionsFromConfig(parse("headset: { match: { path: /dev/hidraw3 } }\n"))).toEqual({
      match: { path: "/dev/hidraw3" },
      ringer: true,
    });
  });

  it("lcd: the size as columns and rows, the agent's language", () => {
    expect(lcdOptionsFromConfig(FULL)).toEqual({
      port: "/dev/lcd",
      driver: "matrix-orbital",
      baud: 19200,
      cols: 16,
      rows: 2,
      charset: "a02",
      language: "fr",
      backlight: { level: 128 },
      contrast: 90,
      refreshSeconds: 30,
      model: "mo-lk162",
    });
  });

  it("presence: the outbox cap in bytes, optional keys only when set", () => {
    expect(presenceOptionsFromConfig(FULL)).toEqual({
      url: "mqtts://broker.example.org:8883",
      username: "desk17",
      password: "m9tt",
      topicPrefix: "cc",
      queues: ["it", "en"],
      protocolVersion: 4,
      clientId: "desk-17-a",
      keepaliveSeconds: 15,
      caFile: join(dir, "ca.pem"),
      statsStaleSeconds: 90,
      outboxMaxBytes: Math.round(1.5 * 1024 * 1024),
      maxClockSkewSeconds: 10,
      responseTopicPrefix: "cc/replies",
      embeddedPort: 1883,
    });
  });

  it("no side section, no options", () => {
    const bare = parse("{}\n");
    expect(sipOptionsFromConfig(bare, "1")).toBeUndefined();
    expect(headsetOptionsFromConfig(bare)).toBeUndefined();
    expect(lcdOptionsFromConfig(bare)).toBeUndefined();
    expect(presenceOptionsFromConfig(bare)).toBeUndefined();
  });
});

describe("controlOptionsFromConfig", () => {
  it("the socket, the client cap and the agent", () => {
    const c = parse("agent: { id: desk-9, name: Ugo }\ncontrol: { socket: /tmp/c.sock, max_clients: 4 }\n");
    expect(controlOptionsFromConfig(c)).toEqual({
      socket: "/tmp/c.sock",
      maxClients: 4,
      agent: { id: "desk-9", name: "Ugo" },
    });
  });
});
