/**
 * A browser-style softphone made of werift's own RTCPeerConnection (offer/answer, ICE agent,
 * restartIce(), DTLS, SRTP: none of it the desk's code), driven over stdin/stdout JSON lines by a
 * test that does the SIP signalling. Meant to run inside a network namespace the test made (its
 * only non-loopback interface a veth end), so werift's host gathering finds that address only.
 *
 * stdin:  {"cmd":"offer"} | {"cmd":"answer","sdp":...} | {"cmd":"restart"} | {"cmd":"stats"} | {"cmd":"close"}
 * stdout: {"ready":true} then one {"id":n,...} reply per command (commands carry "id").
 * Sends a PCMU tone (`--hz`, default 600) as soon as the track is negotiated; counts the desk's
 * PCMU samples and measures the power of `--listen` Hz (default 1000) per window.
 */
import { createInterface } from "node:readline";
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters, RtpHeader, RtpPacket } from "werift";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const SEND_HZ = Number(arg("hz", "600"));
const LISTEN_HZ = Number(arg("listen", "1000"));

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const log = (...a) => process.stderr.write(`${new Date().toISOString()} ${a.join(" ")}\n`);

// µ-law (G.711) encode/decode
function linearToUlaw(sample) {
  const BIAS = 0x84;
  let sign = 0;
  let s = sample;
  if (s < 0) {
    s = -s;
    sign = 0x80;
  }
  if (s > 32635) s = 32635;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}
function ulawToLinear(u) {
  const x = ~u & 0xff;
  const t = (((x & 0x0f) << 3) + 0x84) << ((x & 0x70) >> 4);
  return x & 0x80 ? 0x84 - t : t - 0x84;
}

const pc = new RTCPeerConnection({
  codecs: {
    audio: [
      new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: 111 }),
      new RTCRtpCodecParameters({ mimeType: "audio/PCMU", clockRate: 8000, channels: 1, payloadType: 0 }),
    ],
  },
  iceUseIpv4: true,
  iceUseIpv6: false,
  iceUseTcp: false,
  iceTcpPassive: false,
  bundlePolicy: "max-bundle",
});

const track = new MediaStreamTrack({ kind: "audio" });
const transceiver = pc.addTransceiver(track, { direction: "sendrecv" });

pc.iceConnectionStateChange.subscribe((s) => log("ice", s));
pc.connectionStateChange.subscribe((s) => log("connection", s));

// what we hear: µ-law samples of the desk, with a Goertzel power at LISTEN_HZ over the last second
let received = 0;
const receivedPayloadTypes = new Set();
const window = [];
transceiver.onTrack.subscribe((remote) => {
  remote.onReceiveRtp.subscribe((rtp) => {
    receivedPayloadTypes.add(rtp.header.payloadType);
    if (rtp.header.payloadType !== 0) return;
    for (const b of rtp.payload) {
      window.push(ulawToLinear(b));
      received++;
    }
    if (window.length > 8000) window.splice(0, window.length - 8000);
  });
});
function goertzel(samples, hz) {
  const k = (2 * Math.PI * hz) / 8000;
  const c = 2 * Math.cos(k);
  let s1 = 0;
  let s2 = 0;
  for (const x of samples) {
    const s = x + c * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  return s1 * s1 + s2 * s2 - c * s1 * s2;
}
/** Power at `hz` over the total power (Parseval): ~1 for a pure tone there, ~0 for silence or another tone. */
function toneShare(samples, hz) {
  if (samples.length < 800) return 0;
  const energy = samples.reduce((a, x) => a + x * x, 0);
  if (energy === 0) return 0;
  return (2 * goertzel(samples, hz)) / (samples.length * energy);
}

// what we send: a PCMU tone, 20 ms per packet, once negotiated
let sent = 0;
let seq = 1;
let ts = 0;
let phase = 0;
setInterval(() => {
  if (!transceiver.sender.codec || pc.connectionState !== "connected") return;
  const payload = Buffer.alloc(160);
  for (let i = 0; i < 160; i++) {
    payload[i] = linearToUlaw(Math.round(8000 * Math.sin(phase)));
    phase += (2 * Math.PI * SEND_HZ) / 8000;
  }
  const header = new RtpHeader({ payloadType: 0, sequenceNumber: seq, timestamp: ts, marker: seq === 1 });
  seq = (seq + 1) & 0xffff;
  ts = (ts + 160) >>> 0;
  track.writeRtp(new RtpPacket(header, payload));
  sent++;
}, 20);

async function gathered() {
  if (pc.iceGatheringState === "complete") return;
  await new Promise((resolve) => {
    const sub = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === "complete") {
        sub.unSubscribe();
        resolve();
      }
    });
  });
}

async function offer() {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered();
  return pc.localDescription.sdp;
}

async function stats() {
  const ice = transceiver.dtlsTransport?.iceTransport;
  const conn = ice?.connection;
  const pair = conn?.nominated;
  return {
    ice: pc.iceConnectionState,
    connection: pc.connectionState,
    dtls: transceiver.dtlsTransport?.state,
    localUfrag: conn?.localUsername,
    remoteUfrag: conn?.remoteUsername,
    selected: pair
      ? {
          local: `${pair.localCandidate.host}:${pair.localCandidate.port}`,
          remote: `${pair.remoteCandidate.host}:${pair.remoteCandidate.port}`,
        }
      : null,
    codec: transceiver.sender.codec?.mimeType ?? null,
    sent,
    received,
    receivedPayloadTypes: [...receivedPayloadTypes],
    toneShare: toneShare(window, LISTEN_HZ),
  };
}

const rl = createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    return;
  }
  try {
    switch (msg.cmd) {
      case "offer":
        out({ id: msg.id, sdp: await offer() });
        break;
      case "answer": {
        await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
        // werift 0.25.2's connect() returns before starting the ICE checks when the DTLS transport
        // is already connected, which after restartIce() it is: the restarted agent would answer
        // checks but, controlling, never send any nor nominate. Start its ICE transport as connect()
        // would have (werift's own agent still does all the work).
        const dtls = transceiver.dtlsTransport;
        if (dtls?.state === "connected" && dtls.iceTransport.state !== "connected") {
          log("restart: starting werift's ICE transport (its connect() skips it under a live DTLS)");
          dtls.iceTransport.start().catch((e) => log("ice start failed", String(e)));
        }
        out({ id: msg.id, ok: true });
        break;
      }
      case "restart":
        pc.restartIce();
        out({ id: msg.id, sdp: await offer() });
        break;
      case "stats":
        out({ id: msg.id, ...(await stats()) });
        break;
      case "close":
        await pc.close();
        out({ id: msg.id, ok: true });
        process.exit(0);
        break;
      default:
        out({ id: msg.id, error: `unknown command ${msg.cmd}` });
    }
  } catch (error) {
    out({ id: msg.id, error: String(error?.stack ?? error) });
  }
});
out({ ready: true });
