// The worker's entry module (scripts/build-worker.sh copies it into server/build/, beside the
// module worker-build makes of the Rust crate, index.js).
//
// worker-build exports each Durable Object as a plain class, which the runtime can `fetch` but not
// call over Workers RPC. Here each one becomes a class extending `DurableObject` that holds the
// Rust object and hands it every event as is, and adds the RPC method `call`: the edge and the
// objects send their calls (server/src/internal.rs) through it, with a lower tail than a `fetch`
// (bench/README.md, "Durable Object calls"). A connect still travels as a `fetch`: it hands over
// a socket.
import { DurableObject } from "cloudflare:workers";
import * as rust from "./index.js";

function callable(RustObject) {
  return class extends DurableObject {
    constructor(ctx, env) {
      super(ctx, env);
      this.rust = new RustObject(ctx, env);
    }
    /** A call's JSON; `[status, body]` (server/src/objects.rs), at once or as a promise. The
     * room answers at once what needs no other object, and leaves the rest to `callLater`. */
    call(text) {
      return this.rust.call(text) ?? this.rust.callLater(text);
    }
    fetch(request) {
      return this.rust.fetch(request);
    }
    alarm() {
      return this.rust.alarm();
    }
    webSocketMessage(ws, message) {
      return this.rust.webSocketMessage(ws, message);
    }
    webSocketClose(ws, code, reason, wasClean) {
      return this.rust.webSocketClose(ws, code, reason, wasClean);
    }
    webSocketError(ws, error) {
      return this.rust.webSocketError(ws, error);
    }
  };
}

export const RoomObject = callable(rust.RoomObject);
export const TopicObject = callable(rust.TopicObject);
export const TopicShard = callable(rust.TopicShard);
export default rust.default;
