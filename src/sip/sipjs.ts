/**
 * The sip.js values the SIP side uses, imported from sip.js's own folders rather than from its
 * root: the root index (`import ... from "sip.js"`) also loads sip.js's browser platform
 * (SimpleUser, SessionManager, the WebRTC session description handler, modifiers: 22 modules,
 * 90 KB of source) that a desk never runs but would keep in memory from start. Types still come
 * from "sip.js" with `import type`, which emits nothing. test/integration/start-modules.test.ts
 * checks that a started desk has not loaded them.
 */

export {
  EmitterImpl,
  Inviter,
  Registerer,
  RegistererState,
  SessionState,
  TransportState,
  UserAgent,
} from "sip.js/lib/api/index.js";
export * as Core from "sip.js/lib/core/index.js";
export { Grammar, NameAddrHeader, URI } from "sip.js/lib/grammar/index.js";
