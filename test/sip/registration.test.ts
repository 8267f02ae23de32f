/**
 * The registration and liveness machine of the SIP side (src/sip/registration.ts), as tables:
 * from a state, on an event, the actions it asks for and what it remembers. These rows are the
 * specification; test/integration/sip-registration, sip-failover and call-liveness check the
 * same behaviour against Kamailio.
 */
import { describe, expect, it } from "vitest";
import {
  initialRegistration,
  next,
  type RegistrationAction,
  type RegistrationEvent,
  type RegistrationState,
} from "../../src/sip/registration.js";

const A = "tcp://127.0.0.1:5060";
const B = "tcp://127.0.0.1:5070";
const C1 = "sip:alice@127.0.0.1:40001;transport=tcp";
const C2 = "sip:alice@127.0.0.1:40002;transport=tcp";

const fresh = initialRegistration([A, B]);

/** A state from the fresh one, with some parts changed. */
function at(patch: Partial<RegistrationState>): RegistrationState {
  return { ...fresh, ...patch };
}

const connecting = at({ health: { sip: "registering", reason: null } });
const registering = at({
  health: { sip: "registering", reason: null },
  link: { up: true, connections: 1, checked: 0 },
});
const registered = at({
  health: { sip: "registered", reason: null },
  link: { up: true, connections: 1, checked: 0 },
  bindings: { registered: C1, stale: [] },
  liveness: { running: true, baseline: 200, inFlight: false },
});
const waiting = at({
  health: { sip: "unregistered", reason: "connection lost: ECONNRESET" },
  retryPending: true,
  bindings: { registered: C1, stale: [] },
});

type Row = readonly [
  name: string,
  from: RegistrationState,
  event: RegistrationEvent,
  actions: readonly RegistrationAction[],
  remembers?: Partial<RegistrationState>,
];

function table(rows: readonly Row[]): void {
  for (const [name, from, event, actions, remembers] of rows) {
    it(name, () => {
      const step = next(from, event);
      expect(step.actions).toEqual(actions);
      if (remembers) expect(step.state).toMatchObject(remembers);
    });
  }
}

describe("connecting", () => {
  table([
    [
      "start: the desk hears registering",
      fresh,
      { type: "started" },
      [{ type: "report", sip: "registering", reason: null }],
    ],
    [
      "no server reachable: say why, retry after the backoff",
      connecting,
      { type: "connect_failed", why: "no SIP server reachable" },
      [
        { type: "report", sip: "unregistered", reason: "no SIP server reachable" },
        { type: "retry", why: "no SIP server reachable", after: "backoff" },
      ],
      { retryPending: true },
    ],
    [
      "a retry already scheduled stands (one at a time)",
      waiting,
      { type: "connect_failed", why: "ECONNREFUSED" },
      [],
    ],
    [
      "the retry's turn while down: registering again (the reason stays), connect",
      waiting,
      { type: "retry_due", contact: C1 },
      [{ type: "report", sip: "registering", reason: "connection lost: ECONNRESET" }, { type: "connect" }],
      { retryPending: false },
    ],
    [
      "connected: REGISTER, the baseline of liveness forgotten",
      at({ ...connecting, liveness: { running: false, baseline: 200, inFlight: false } }),
      { type: "connected", contact: C1 },
      [{ type: "register", contact: C1, remove: [] }],
      {
        link: { up: true, connections: 1, checked: 0 },
        liveness: { running: false, baseline: null, inFlight: false },
      },
    ],
  ]);
});

describe("registering", () => {
  table([
    [
      "200 OK: registered, the backoff starts afresh, liveness starts",
      registering,
      { type: "register_accepted", contact: C1, removed: [] },
      [{ type: "up" }, { type: "report", sip: "registered", reason: null }, { type: "start_liveness" }],
      { bindings: { registered: C1, stale: [] } },
    ],
    [
      "sip.js's Registerer says Registered too: nothing new",
      { ...registered, liveness: { running: true, baseline: null, inFlight: false } },
      { type: "registerer_registered" },
      [{ type: "up" }],
    ],
    [
      "500 from the registrar: unregistered with its reason, retry after the backoff",
      registering,
      { type: "register_refused", status: 500, reason: "Server Error", server: A },
      [
        { type: "report", sip: "unregistered", reason: "500 Server Error" },
        { type: "retry", why: "500 Server Error", after: "backoff" },
      ],
      { lastFailure: "500 Server Error" },
    ],
    [
      "a refresh that lapsed on a live connection: register again after the backoff",
      registered,
      { type: "registerer_unregistered" },
      [
        { type: "stop_liveness" },
        { type: "report", sip: "unregistered", reason: "registration lapsed" },
        { type: "retry", why: "registration lapsed", after: "backoff" },
      ],
    ],
    [
      "the retry's turn on a live connection: REGISTER on it",
      at({ ...registering, health: { sip: "unregistered", reason: "500 Server Error" }, retryPending: true }),
      { type: "retry_due", contact: C1 },
      [
        { type: "report", sip: "registering", reason: "500 Server Error" },
        { type: "register", contact: C1, remove: [] },
      ],
    ],
  ]);
});

describe("stale bindings over TCP: the REGISTER on a new connection removes the old Contact", () => {
  table([
    [
      "new connection, new Contact: the old one is removed (expires=0)",
      { ...waiting, retryPending: false, health: { sip: "registering", reason: null } },
      { type: "connected", contact: C2 },
      [{ type: "register", contact: C2, remove: [C1] }],
      { bindings: { registered: C1, stale: [C1] } },
    ],
    [
      "accepted: the removed ones are gone, the new one is ours",
      at({ ...registering, bindings: { registered: C1, stale: [C1] } }),
      { type: "register_accepted", contact: C2, removed: [C1] },
      [{ type: "up" }, { type: "report", sip: "registered", reason: null }, { type: "start_liveness" }],
      { bindings: { registered: C2, stale: [] } },
    ],
    [
      "the same Contact again (a WebSocket, or the same port): nothing to remove",
      at({ ...registering, bindings: { registered: C1, stale: [] } }),
      { type: "connected", contact: C1 },
      [{ type: "register", contact: C1, remove: [] }],
    ],
  ]);
});

describe("failover: a registrar that refuses our credentials hands over to the next server", () => {
  table([
    [
      "403 from the primary: on to the next server, the connection is dropped",
      registering,
      { type: "register_refused", status: 403, reason: "Forbidden", server: A },
      [{ type: "fail_over", server: A, why: "403 Forbidden" }],
      { failover: { refusedBy: [A], why: `403 Forbidden from ${A}; trying the next server` } },
    ],
    ...([401, 404, 407] as const).map(
      (status): Row => [
        `${status} is a refusal too`,
        registering,
        { type: "register_refused", status, reason: "No", server: A },
        [{ type: "fail_over", server: A, why: `${status} No` }],
      ],
    ),
    [
      "the dropped connection says why it was dropped",
      at({
        ...registering,
        health: { sip: "unregistered", reason: "registration lapsed" },
        retryPending: true,
        failover: { refusedBy: [A], why: `403 Forbidden from ${A}; trying the next server` },
      }),
      { type: "disconnected", error: null },
      [{ type: "report", sip: "unregistered", reason: `403 Forbidden from ${A}; trying the next server` }],
      { failover: { refusedBy: [A], why: null }, link: { up: false, connections: 1, checked: 0 } },
    ],
    [
      "every server refused: failed, back to the primary, a fixed 5-minute retry",
      at({ ...registering, failover: { refusedBy: [A], why: null } }),
      { type: "register_refused", status: 403, reason: "Forbidden", server: B },
      [
        { type: "start_with_primary" },
        { type: "report", sip: "failed", reason: "403 Forbidden" },
        { type: "retry", why: "403 Forbidden", after: "every_server_refused" },
      ],
      { failover: { refusedBy: [], why: null } },
    ],
    [
      "failed stays the reason when sip.js's Registerer then says Unregistered",
      at({ ...registering, health: { sip: "failed", reason: "403 Forbidden" } }),
      { type: "registerer_unregistered" },
      [],
    ],
    [
      "a success ends the round: the next refusal starts a new one",
      at({ ...registering, failover: { refusedBy: [A], why: null } }),
      { type: "register_accepted", contact: C1, removed: [] },
      [{ type: "up" }, { type: "report", sip: "registered", reason: null }, { type: "start_liveness" }],
      { failover: { refusedBy: [], why: null } },
    ],
  ]);
});

describe("connection lost", () => {
  table([
    [
      "registered, then the connection drops: liveness stops, say why, retry after the backoff",
      registered,
      { type: "disconnected", error: "ECONNRESET" },
      [
        { type: "stop_liveness" },
        { type: "report", sip: "unregistered", reason: "connection lost: ECONNRESET" },
        { type: "retry", why: "ECONNRESET", after: "backoff" },
      ],
      { link: { up: false, connections: 1, checked: 0 }, retryPending: true },
    ],
  ]);
});

describe("liveness: an OPTIONS to our own AOR through the registrar", () => {
  const live = (baseline: number | null, inFlight = true): RegistrationState => ({
    ...registered,
    liveness: { running: true, baseline, inFlight },
  });
  const lost = (reason: string): readonly RegistrationAction[] => [
    { type: "report", sip: "unregistered", reason },
    { type: "reconnect", why: "liveness" },
  ];
  table([
    [
      "its timer: send the OPTIONS",
      live(200, false),
      { type: "liveness_due" },
      [{ type: "check_liveness" }],
      { liveness: { running: true, baseline: 200, inFlight: true } },
    ],
    ["one at a time", live(200, true), { type: "liveness_due" }, []],
    [
      "not while disconnected",
      { ...live(200, false), link: { ...registered.link, up: false } },
      { type: "liveness_due" },
      [],
    ],
    [
      "the first answer is the baseline, whatever it is",
      live(null),
      { type: "liveness_answered", status: 404, reason: "Not Found" },
      [],
      { liveness: { running: true, baseline: 404, inFlight: false } },
    ],
    [
      "the same answer again: alive",
      live(404),
      { type: "liveness_answered", status: 404, reason: "Not Found" },
      [],
    ],
    [
      "any other success: alive",
      live(200),
      { type: "liveness_answered", status: 405, reason: "Not Allowed" },
      [],
    ],
    [
      "worse than the baseline (480): the registrar lost us, reconnect",
      live(200),
      { type: "liveness_answered", status: 480, reason: "Temporarily Unavailable" },
      lost("liveness check: 480 Temporarily Unavailable"),
    ],
    [
      "408 after a 200: reconnect",
      live(200),
      { type: "liveness_answered", status: 408, reason: "Request Timeout" },
      lost("liveness check: 408 Request Timeout"),
    ],
    [
      "no answer once the baseline is known: reconnect",
      live(200),
      { type: "liveness_answered", status: null, reason: "no answer" },
      lost("liveness check: no answer"),
    ],
    [
      "no answer before any baseline: not judged yet",
      live(null),
      { type: "liveness_answered", status: null, reason: "no answer" },
      [],
      { liveness: { running: true, baseline: null, inFlight: false } },
    ],
  ]);
});

describe("calls after a reconnect", () => {
  table([
    [
      "registered on a new connection: check the calls' dialogs",
      at({ ...registering, link: { up: true, connections: 2, checked: 1 } }),
      { type: "register_accepted", contact: C1, removed: [] },
      [
        { type: "up" },
        { type: "report", sip: "registered", reason: null },
        { type: "start_liveness" },
        { type: "check_dialogs" },
      ],
      { link: { up: true, connections: 2, checked: 2 } },
    ],
    [
      "once per connection (the Registerer's Registered after the 200 OK adds nothing)",
      { ...registered, link: { up: true, connections: 2, checked: 2 } },
      { type: "registerer_registered" },
      [{ type: "up" }],
    ],
    [
      "not on the first connection",
      registering,
      { type: "registerer_registered" },
      [{ type: "up" }, { type: "report", sip: "registered", reason: null }, { type: "start_liveness" }],
    ],
  ]);
});

describe("stop", () => {
  table([
    [
      "the desk hears unregistered: stopped; nothing pending",
      { ...registered, retryPending: true },
      { type: "stopped" },
      [{ type: "report", sip: "unregistered", reason: "stopped" }],
      { retryPending: false, liveness: { running: false, baseline: 200, inFlight: false } },
    ],
  ]);
});
