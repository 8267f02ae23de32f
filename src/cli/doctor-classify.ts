/**
 * What each outcome `cuffia doctor` observed means, and how to fix it (STYLE.md: "Tell the user
 * how to fix it"). Pure: the probes (doctor-probes.ts) observe, these functions judge.
 */
import type { BrokerProbeOutcome } from "../presence/probe.js";
import { type Finding, finding } from "./doctor-report.js";

// ── network ───────────────────────────────────────────────────────────────────────────────────

export type NetProblem = "refused" | "dns" | "no_route" | "timeout" | "certificate" | "not_sip_ws" | "other";

/**
 * Classifies a connection error. Only the message is left by the time it reaches us (sip.js and
 * MQTT.js flatten errors), so this reads the errno / OpenSSL names Node puts in it.
 */
export function netProblem(message: string): NetProblem {
  if (/ECONNREFUSED|connection refused/i.test(message)) return "refused";
  if (/ENOTFOUND|EAI_AGAIN|EAI_NONAME|getaddrinfo/i.test(message)) return "dns";
  if (/EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL/i.test(message)) return "no_route";
  if (/ETIMEDOUT|timed? ?out/i.test(message)) return "timeout";
  if (/certificate|CERT_|self[- ]signed|altnames|issuer|SSL routines|wrong version number/i.test(message))
    return "certificate";
  if (/Unexpected server response|subprotocol/i.test(message)) return "not_sip_ws";
  return "other";
}

interface NetKeys {
  /** The config key of the address (sip.server, mqtt.url). */
  readonly address: string;
  /** The config key of the private CA (sip.ca_file, mqtt.ca_file). */
  readonly ca: string;
  /** What should be listening ("the PBX", "the broker"). */
  readonly peer: string;
}

export function netFix(problem: NetProblem, keys: NetKeys): string {
  switch (problem) {
    case "refused":
      return `nothing listens there: check ${keys.address} (host and port), that ${keys.peer} is running, and the firewall`;
    case "dns":
      return `the host name does not resolve: check the host in ${keys.address} and the box's DNS (/etc/resolv.conf)`;
    case "no_route":
      return `no route to the host: check the network cable/Wi-Fi, the gateway, and the host in ${keys.address}`;
    case "timeout":
      return `no answer: check the host and port in ${keys.address} and that the firewall lets this box through`;
    case "certificate":
      return `the server's TLS certificate is refused: set ${keys.ca} to the CA that signed it (PEM), make sure the host name in ${keys.address} is in the certificate, and check the clock (a wrong date makes certificates look expired)`;
    case "not_sip_ws":
      return `a web server answered but not a SIP WebSocket: check the path in ${keys.address} (e.g. /ws)`;
    case "other":
      return `check ${keys.address}, that ${keys.peer} is running, and the firewall`;
  }
}

// ── SIP ───────────────────────────────────────────────────────────────────────────────────────

export type SipOutcome =
  | { readonly kind: "registered"; readonly server: string }
  /** The registrar answered REGISTER with an error (the status line, e.g. "403 Forbidden"). */
  | { readonly kind: "refused"; readonly reason: string }
  | { readonly kind: "unreachable"; readonly error: string }
  /** Connected (or still trying) but no final answer within the deadline. */
  | { readonly kind: "timeout"; readonly seconds: number; readonly connected: boolean }
  /** The side could not even start (an unreadable ca_file...). */
  | { readonly kind: "error"; readonly error: string };

export function sipFinding(
  o: SipOutcome,
  account: { aor: string; username: string; server: string },
): Finding {
  const credentials = `check sip.username ("${account.username}") and the password in sip.password_file: they must be the extension's credentials on the PBX`;
  switch (o.kind) {
    case "registered":
      return finding("sip", "ok", `registered ${account.aor} on ${o.server} (and unregistered again)`);
    case "refused": {
      const status = Number(/^(\d{3})\b/.exec(o.reason)?.[1] ?? 0);
      const detail = `the registrar refused ${account.aor}: ${o.reason}`;
      if (status === 401 || status === 403 || status === 407)
        return finding("sip", "fail", detail, credentials);
      if (status === 404)
        return finding(
          "sip",
          "fail",
          detail,
          "the PBX does not know this extension: check sip.aor (user and domain) and sip.username",
        );
      return finding(
        "sip",
        "fail",
        detail,
        `the PBX answered ${o.reason}: look at the PBX's log for this REGISTER; check sip.aor's domain`,
      );
    }
    case "unreachable":
      return finding(
        "sip",
        "fail",
        `cannot reach the PBX: ${o.error}`,
        netFix(netProblem(o.error), { address: "sip.server", ca: "sip.ca_file", peer: "the PBX" }),
      );
    case "timeout":
      return o.connected
        ? finding(
            "sip",
            "fail",
            `connected to ${account.server} but no answer to REGISTER within ${o.seconds} s`,
            "the PBX does not answer on this connection: check that sip.server is the PBX's SIP port (not another service) and the PBX's log",
          )
        : finding(
            "sip",
            "fail",
            `no connection to ${account.server} within ${o.seconds} s`,
            netFix("timeout", { address: "sip.server", ca: "sip.ca_file", peer: "the PBX" }),
          );
    case "error":
      return finding(
        "sip",
        "fail",
        `the SIP side cannot start: ${o.error}`,
        /ca_file|ENOENT|EACCES|\.pem|\.crt/i.test(o.error)
          ? "check that sip.ca_file exists and is readable by the cuffia user"
          : "run `cuffia run` with log.level: debug and read the SIP lines",
      );
  }
}

// ── MQTT ──────────────────────────────────────────────────────────────────────────────────────

export type MqttOutcome = BrokerProbeOutcome | { readonly kind: "embedded"; readonly port: number };

export type RefusalKind =
  | "credentials"
  | "not_authorized"
  | "client_id"
  | "protocol"
  | "unavailable"
  | "other";

/** MQTT 3.1.1 §3.2.2.3 return codes and MQTT 5 §3.2.2.2 reason codes. */
export function refusalKind(code: number): RefusalKind {
  switch (code) {
    case 4:
    case 0x86:
      return "credentials";
    case 5:
    case 0x87:
    case 0x8a:
      return "not_authorized";
    case 2:
    case 0x85:
      return "client_id";
    case 1:
    case 0x84:
      return "protocol";
    case 3:
    case 0x88:
    case 0x89:
    case 0x9f:
      return "unavailable";
    default:
      return "other";
  }
}

export function mqttFinding(o: MqttOutcome, account: { url: string; username: string | null }): Finding {
  const user = account.username === null ? "no mqtt.username" : `mqtt.username ("${account.username}")`;
  switch (o.kind) {
    case "connected":
      return finding("mqtt", "ok", `connected to ${account.url} and disconnected (nothing published)`);
    case "embedded":
      return finding(
        "mqtt",
        "ok",
        `embedded broker: the daemon runs it on 127.0.0.1:${o.port}, nothing to reach`,
      );
    case "refused": {
      const detail = `the broker refused the connection: ${o.reason}`;
      switch (refusalKind(o.code)) {
        case "credentials":
        case "not_authorized":
          return finding(
            "mqtt",
            "fail",
            detail,
            `check ${user} and the password in mqtt.password_file; the broker must know this user (mosquitto_passwd) and its ACL must allow it`,
          );
        case "client_id":
          return finding(
            "mqtt",
            "fail",
            detail,
            "the broker does not accept the client id: set mqtt.client_id (letters and digits, unique per box)",
          );
        case "protocol":
          return finding(
            "mqtt",
            "fail",
            detail,
            'the broker does not speak this MQTT version: set mqtt.protocol_version: "3.1.1"',
          );
        case "unavailable":
          return finding("mqtt", "fail", detail, "the broker is overloaded or shutting down: check its log");
        case "other":
          return finding("mqtt", "fail", detail, "read the broker's log for this client's CONNECT");
      }
      break;
    }
    case "unreachable":
      // MQTT.js's own timer: the connection opened but no CONNACK came back.
      if (/connack timeout/i.test(o.error))
        return finding(
          "mqtt",
          "fail",
          `${account.url} accepted the connection but sent no CONNACK`,
          "something listens there but does not speak MQTT: check the port in mqtt.url, and use mqtts:// for a TLS port",
        );
      return finding(
        "mqtt",
        "fail",
        `cannot reach the broker: ${o.error}`,
        netFix(netProblem(o.error), { address: "mqtt.url", ca: "mqtt.ca_file", peer: "the broker" }),
      );
    case "timeout":
      return finding(
        "mqtt",
        "fail",
        `no CONNACK from ${account.url} within ${o.seconds} s`,
        netFix("timeout", { address: "mqtt.url", ca: "mqtt.ca_file", peer: "the broker" }),
      );
    case "error":
      return finding(
        "mqtt",
        "fail",
        o.error,
        "check that mqtt.ca_file, cert_file and key_file exist and are readable by the cuffia user",
      );
  }
}

// ── headset ───────────────────────────────────────────────────────────────────────────────────

export interface SeenHeadset {
  readonly path: string;
  readonly model: string;
  /** Why it is not usable (descriptor unreadable, no telephony collection), or null. */
  readonly error: string | null;
  readonly buttons: readonly string[];
  readonly leds: readonly string[];
  readonly card: string | null;
}

export type HeadsetOutcome =
  | { readonly kind: "keyboard" }
  | { readonly kind: "hid_unavailable"; readonly error: string }
  | { readonly kind: "missing"; readonly seen: readonly SeenHeadset[] }
  | { readonly kind: "unusable"; readonly headset: SeenHeadset }
  | { readonly kind: "denied"; readonly headset: SeenHeadset }
  | { readonly kind: "found"; readonly headset: SeenHeadset };

export function headsetFinding(
  o: HeadsetOutcome,
  /** What headset.match asks for (`0b0e:0307`, `/dev/hidraw3`); null for `auto`. */
  wanted: string | null,
  udev: { readonly rulesFile: string; readonly group: string },
): Finding {
  switch (o.kind) {
    case "keyboard":
      return finding("headset", "ok", "keyboard headset: keys on the terminal (demo, development)");
    case "hid_unavailable":
      return finding(
        "headset",
        "fail",
        `HID access is not available: ${o.error}`,
        "sudo apt install libusb-1.0-0, then reinstall cuffia (npm rebuild node-hid)",
      );
    case "missing": {
      const seen =
        o.seen.length === 0
          ? "no telephony headset is plugged in"
          : `seen: ${o.seen.map((h) => `${h.model} at ${h.path}`).join(", ")}`;
      return finding(
        "headset",
        "fail",
        wanted === null ? seen : `no headset matches ${wanted} (${seen})`,
        o.seen.length === 0
          ? "plug it in; `cuffia devices` lists what is seen"
          : "plug it in, or set headset.match to one of those (`cuffia devices` lists what is seen)",
      );
    }
    case "unusable":
      return finding(
        "headset",
        "fail",
        `${o.headset.model} at ${o.headset.path} cannot be used: ${o.headset.error}`,
        "use a headset with a HID telephony interface; `cuffia headset inspect --hidraw PATH` explains what it offers",
      );
    case "denied":
      return finding(
        "headset",
        "fail",
        `${o.headset.model} at ${o.headset.path}: permission denied`,
        `install the udev rule: sudo cp udev/70-cuffia-headsets.rules ${udev.rulesFile} && sudo udevadm control --reload && sudo udevadm trigger; add the user to ${udev.group}: sudo usermod -aG ${udev.group} cuffia; then replug the headset`,
      );
    case "found": {
      const h = o.headset;
      const parts = [
        `${h.model} at ${h.path}`,
        `buttons: ${h.buttons.join(", ") || "none"}`,
        `LEDs: ${h.leds.join(", ") || "none"}`,
        h.card === null ? "no sound card on the same USB device" : `sound card ${h.card}`,
      ];
      return finding("headset", "ok", parts.join("; "));
    }
  }
}

// ── LCD ───────────────────────────────────────────────────────────────────────────────────────

export type LcdOutcome =
  | { readonly kind: "terminal" }
  | { readonly kind: "missing" }
  | { readonly kind: "denied" }
  | { readonly kind: "busy"; readonly error: string }
  | { readonly kind: "open_failed"; readonly error: string }
  | { readonly kind: "no_answer"; readonly ms: number }
  | { readonly kind: "answered" }
  /** Opened; this protocol never answers, so that is all a probe can know. */
  | { readonly kind: "opened" };

export function lcdFinding(o: LcdOutcome, lcd: { port: string; driver: string; baud: number }): Finding {
  const at = `${lcd.driver} on ${lcd.port}`;
  switch (o.kind) {
    case "terminal":
      return finding("lcd", "ok", "terminal driver: the screen is drawn on the daemon's stdout");
    case "missing":
      return finding(
        "lcd",
        "fail",
        `${lcd.port} does not exist`,
        "plug the display in and check lcd.port (a /dev/serial/by-id/ path survives replugs); `cuffia devices` lists the serial ports",
      );
    case "denied":
      return finding(
        "lcd",
        "fail",
        `${lcd.port}: permission denied`,
        'add the user to dialout: sudo usermod -aG dialout cuffia (or a udev rule giving the port GROUP="dialout", MODE="0660"), then restart the service',
      );
    case "busy":
      return finding(
        "lcd",
        "fail",
        `${lcd.port} is in use by another program (${o.error})`,
        'if the cuffia daemon runs, that is it (stop it to test: sudo systemctl stop cuffia); otherwise ModemManager may be probing the port: sudo systemctl disable --now ModemManager, or a udev rule with ENV{ID_MM_DEVICE_IGNORE}="1"',
      );
    case "open_failed":
      return finding(
        "lcd",
        "fail",
        `${lcd.port} cannot be opened: ${o.error}`,
        "check lcd.port is a serial device; ModemManager can hold USB serial ports (sudo systemctl disable --now ModemManager)",
      );
    case "no_answer":
      return finding(
        "lcd",
        "fail",
        `${at}: no answer to a ping within ${o.ms} ms`,
        `check lcd.baud (${lcd.baud}) against the display's setting, lcd.driver, the cable and the display's power`,
      );
    case "answered":
      return finding("lcd", "ok", `${at}: opened, answers a ping`);
    case "opened":
      return finding("lcd", "ok", `${at}: opened (this protocol does not answer; look at the display)`);
  }
}

// ── clock, disk, audio ────────────────────────────────────────────────────────────────────────

/** The config keys that use TLS (so a wrong clock makes certificates fail). */
export function tlsKeys(config: {
  sip?: { server: string; fallback_servers: readonly string[] };
  mqtt?: { url: string };
}): string[] {
  const out: string[] = [];
  if (config.sip && [config.sip.server, ...config.sip.fallback_servers].some((s) => /^(wss|tls):/i.test(s)))
    out.push("sip.server");
  if (config.mqtt && /^(mqtts|wss):/i.test(config.mqtt.url)) out.push("mqtt.url");
  return out;
}

export function clockFinding(synchronized: boolean | null, tls: readonly string[]): Finding {
  const fix =
    "enable time synchronisation: sudo systemctl enable --now systemd-timesyncd (or chrony) and allow NTP (UDP 123) through the firewall; TLS certificates are refused when the clock is wrong";
  const uses = tls.length > 0 ? ` and ${tls.join(", ")} use TLS` : "";
  if (synchronized === true) return finding("clock", "ok", "synchronised (NTP)");
  if (synchronized === false)
    return tls.length > 0
      ? finding("clock", "fail", `not synchronised${uses}`, fix)
      : finding("clock", "warn", "not synchronised (no TLS configured: only timestamps are off)", fix);
  return tls.length > 0
    ? finding(
        "clock",
        "warn",
        `cannot tell whether the clock is synchronised (no timedatectl answer)${uses}`,
        "check `timedatectl` or `chronyc tracking` by hand",
      )
    : finding("clock", "skip", "cannot tell whether the clock is synchronised; no TLS configured");
}

const MB = 1024 * 1024;

/** Room kept above the outbox's cap for the status file, logs and the outbox's compaction. */
export const DISK_MARGIN_BYTES = 64 * MB;

/** `measuredAt` is state_dir, or its nearest existing parent when it is not created yet. */
export function diskFinding(
  stateDir: string,
  measuredAt: string,
  freeBytes: number,
  outboxMaxBytes: number | null,
): Finding {
  const need = (outboxMaxBytes ?? 0) + DISK_MARGIN_BYTES;
  const where =
    measuredAt === stateDir ? stateDir : `${stateDir} (not created yet; measured at ${measuredAt})`;
  const free = `${Math.floor(freeBytes / MB)} MB free for state_dir ${where}`;
  if (freeBytes >= need)
    return finding(
      "disk",
      "ok",
      outboxMaxBytes === null ? free : `${free} (outbox cap ${Math.round(outboxMaxBytes / MB)} MB)`,
    );
  const what =
    outboxMaxBytes === null
      ? `${Math.round(need / MB)} MB wanted`
      : `the outbox may take ${Math.round(outboxMaxBytes / MB)} MB plus ${DISK_MARGIN_BYTES / MB} MB margin`;
  return finding(
    "disk",
    freeBytes < MB ? "fail" : "warn",
    `${free}; ${what}`,
    "free space (sudo journalctl --vacuum-size=50M, sudo apt clean), move state_dir to a bigger filesystem, or lower mqtt.outbox_max_mb",
  );
}

export interface AlsaView {
  readonly cards: ReadonlyArray<{ readonly card: number; readonly id: string; readonly name: string }>;
  /** Names from `arecord -L` (capture) or `aplay -L` (playback); null when the tool is missing. */
  readonly pcms: readonly string[] | null;
}

/** PCM names from `arecord -L` / `aplay -L`: the unindented lines. */
export function parsePcmList(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.length > 0 && !/^\s/.test(l))
    .map((l) => l.trim());
}

/** Whether ALSA knows a device name (card numbers and ids, or the PCM list). */
export function audioDeviceKnown(device: string, alsa: AlsaView): boolean {
  const hw = /^(?:plug)?hw:(\d+)(?:,\d+)?$/.exec(device);
  if (hw) return alsa.cards.some((c) => c.card === Number(hw[1]));
  const named = /^(?:plug)?hw:CARD=([^,]+)/.exec(device);
  if (named) return alsa.cards.some((c) => c.id === named[1] || String(c.card) === named[1]);
  if (device === "default") return alsa.cards.length > 0 || (alsa.pcms?.includes("default") ?? false);
  return alsa.pcms?.some((p) => p === device) ?? false;
}

export function audioFinding(
  direction: "microphone" | "speaker",
  device: string,
  alsa: AlsaView,
  headsetCard: string | null,
): Finding {
  const check = `audio ${direction}`;
  const key = direction === "microphone" ? "audio.source.device" : "audio.sink.device";
  if (device === "headset")
    return headsetCard !== null
      ? finding(check, "ok", `"headset": the headset's sound card ${headsetCard}`)
      : finding(
          check,
          "fail",
          `"headset": no sound card belongs to the headset`,
          `plug the headset in (its USB audio must show in \`cuffia devices\`), or set ${key} to a card from \`cuffia devices\``,
        );
  if (audioDeviceKnown(device, alsa))
    return finding(
      check,
      "ok",
      `"${device}" is known to ALSA (${alsa.cards.map((c) => `card ${c.card} ${c.id}`).join(", ") || "no hardware card"})`,
    );
  return finding(
    check,
    "fail",
    alsa.cards.length === 0
      ? `"${device}": this box has no sound card`
      : `"${device}": ALSA does not know it`,
    alsa.cards.length === 0
      ? "plug the USB headset in (or the sound card); `cuffia devices` lists the cards"
      : `set ${key} to a device from \`cuffia devices\` (or \`${direction === "microphone" ? "arecord" : "aplay"} -L\`)`,
  );
}

export function configWarningFinding(warning: string): Finding {
  const unverified = /\b(sip|mqtt)\.tls_verify is false\b/.exec(warning)?.[1];
  if (unverified !== undefined)
    return finding(
      "config",
      "warn",
      warning,
      `remove ${unverified}.tls_verify: false; if the ${unverified === "sip" ? "PBX" : "broker"} uses a private CA, copy its certificate (PEM) to /etc/cuffia/ and set ${unverified}.ca_file to it`,
    );
  const section = /\b(sip|mqtt)\.password\b/.exec(warning)?.[1];
  if (section === undefined) return finding("config", "warn", warning, null);
  const file = `/etc/cuffia/secrets/${section}.password`;
  return finding(
    "config",
    "warn",
    warning,
    `printf %s 'THE PASSWORD' | sudo tee ${file} >/dev/null && sudo chmod 0600 ${file}; then replace ${section}.password with ${section}.password_file: ${file}`,
  );
}
