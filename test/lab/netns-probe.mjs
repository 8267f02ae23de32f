// A tiny UDP/STUN/TURN client run inside a lab network namespace (`ip netns exec NS node
// netns-probe.mjs ...`, see netns.ts): the test process cannot open sockets in another namespace.
// Prints one JSON line. Commands:
//   binding HOST PORT                 STUN Binding -> {"mapped":"IP:PORT","local":"IP:PORT"}
//   allocate HOST PORT USER PASS      TURN Allocate -> {"relayed":"IP:PORT","mapped":"IP:PORT"} or {"error":401}
//   send HOST PORT TEXT [WAIT_MS]     one datagram, then the first reply -> {"reply":"...","from":"IP:PORT"} or {"reply":null}
//   send2 HOST PORT1 PORT2            one datagram to each port from ONE socket -> {"replies":["...","..."]}
//                                     (with an echo of the source address: tells a symmetric NAT apart)
import { createHash } from "node:crypto";
import { createSocket } from "node:dgram";
import { createRequire } from "node:module";

// werift-ice from the repository's node_modules, whatever the working directory.
const require = createRequire(import.meta.url);
const { Message, classes, methods, parseMessage } = require("werift-ice");

const [command, host, portText, ...rest] = process.argv.slice(2);
const port = Number(portText);
const socket = createSocket("udp4");
await new Promise((resolve) => socket.bind(0, resolve));
const local = () => `${socket.address().address}:${socket.address().port}`;

function request(message, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const bytes = message.bytes;
    const resend = setInterval(() => socket.send(bytes, port, host), 250);
    const timer = setTimeout(() => done(() => reject(new Error("no STUN answer"))), timeoutMs);
    const onMessage = (data) => {
      const m = parseMessage(data);
      if (m?.transactionIdHex === message.transactionIdHex) done(() => resolve(m));
    };
    const done = (outcome) => {
      clearInterval(resend);
      clearTimeout(timer);
      socket.off("message", onMessage);
      outcome();
    };
    socket.on("message", onMessage);
    socket.send(bytes, port, host);
  });
}

/**
 * Sends `text` to host:to every 250 ms (UDP may be lost; the lab's echoes are socat children that
 * can miss a datagram under load) until the first datagram comes back from there, or `waitMs`.
 */
function exchange(text, to, waitMs) {
  return new Promise((resolve) => {
    const send = () => socket.send(text, to, host);
    const resend = setInterval(send, 250);
    const done = (value) => {
      clearInterval(resend);
      clearTimeout(timer);
      socket.off("message", onMessage);
      resolve(value);
    };
    const timer = setTimeout(() => done(null), waitMs);
    const onMessage = (data, from) => {
      if (from.port === to) done({ data: data.toString(), from: `${from.address}:${from.port}` });
    };
    socket.on("message", onMessage);
    socket.on("error", () => {});
    send();
  });
}

const address = (pair) => (pair ? `${pair[0]}:${pair[1]}` : null);
let result;
try {
  if (command === "binding") {
    const m = await request(new Message(methods.BINDING, classes.REQUEST));
    result = { mapped: address(m.getAttributeValue("XOR-MAPPED-ADDRESS")), local: local() };
  } else if (command === "allocate") {
    const [user, pass] = rest;
    const UDP = 0x11000000;
    const challenge = await request(
      new Message(methods.ALLOCATE, classes.REQUEST).setAttribute("REQUESTED-TRANSPORT", UDP),
    );
    const realm = challenge.getAttributeValue("REALM");
    const nonce = challenge.getAttributeValue("NONCE");
    const key = createHash("md5").update(`${user}:${realm}:${pass}`).digest();
    const m = await request(
      new Message(methods.ALLOCATE, classes.REQUEST)
        .setAttribute("REQUESTED-TRANSPORT", UDP)
        .setAttribute("USERNAME", user)
        .setAttribute("REALM", realm)
        .setAttribute("NONCE", nonce)
        .addMessageIntegrity(key)
        .addFingerprint(),
    );
    result =
      m.messageClass === classes.ERROR
        ? { error: m.getAttributeValue("ERROR-CODE")[0] }
        : {
            relayed: address(m.getAttributeValue("XOR-RELAYED-ADDRESS")),
            mapped: address(m.getAttributeValue("XOR-MAPPED-ADDRESS")),
          };
  } else if (command === "send") {
    const [text, waitText] = rest;
    const answer = await exchange(text ?? "", port, Number(waitText ?? 1000));
    result = answer
      ? { reply: answer.data, from: answer.from, local: local() }
      : { reply: null, local: local() };
  } else if (command === "send2") {
    const replies = [];
    for (const to of [port, Number(rest[0])]) {
      replies.push((await exchange("which address?", to, 1500))?.data.trim() ?? null);
    }
    result = { replies, local: local() };
  } else {
    throw new Error(`unknown command ${command}`);
  }
} catch (error) {
  result = { failed: String(error?.message ?? error) };
}
process.stdout.write(`${JSON.stringify(result)}\n`);
socket.close();
