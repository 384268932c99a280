// @edgepush/client/stimulus: a Stimulus controller (Symfony UX) over the SDK; @hotwired/stimulus
// is an optional peer dependency. Register it as "edgepush", the name the bundle's Twig helper
// edgepush_stimulus_controller() renders:
//
//   import EdgepushController from "@edgepush/client/stimulus";
//   application.register("edgepush", EdgepushController);
//
// connect() loads the SDK (once per page), makes a client and connects it; disconnect() (the
// element left the page) closes it. What arrives is dispatched as DOM events on the element, which
// bubble, for `data-action`:
//   edgepush:event   detail: the event ({id, name, payload, ts, topic?})
//   edgepush:state   detail: the connection state ({state: "open", ...})
//   edgepush:error   detail: the error ({code, message, terminal, ...}; a topic's: {topic, code, message})
//   edgepush:resync  detail: {topic?}: events were lost for good, reload what depends on them
import { Controller } from "@hotwired/stimulus";

let sdk;
/** The SDK's module, initialized once (its `init()` fetches the .wasm next to it). */
function loadSdk() {
  sdk ??= import("./edgepush_client.js").then(async (module) => {
    await module.default();
    return module;
  });
  return sdk;
}

export default class EdgepushController extends Controller {
  static values = {
    /** The worker's URL (edgepush_public_url()). */
    url: String,
    /** Where the token comes from: the bundle's GET /edgepush/token, asked before every connect. */
    tokenUrl: String,
    /** A fixed token instead of tokenUrl. */
    token: String,
    /** The event names to dispatch; none: every event of the user. Topic events need their names here. */
    events: Array,
    /** Topics to subscribe to (public ones, or those the connect token grants). */
    topics: Array,
  };

  connect() {
    const session = (this.session = {});
    const fail = (message) => this.dispatch("error", { detail: { code: "config", message, terminal: true } });
    loadSdk().then(
      ({ EdgepushClient }) => {
        if (this.session !== session) return;
        // A client the values cannot make (e.g. an empty or malformed URL) throws a TypeError.
        try {
          this.start(EdgepushClient);
        } catch (error) {
          fail(error?.message ?? `${error}`);
        }
      },
      (error) => fail(`the SDK did not load: ${error}`),
    );
  }

  disconnect() {
    this.session = null;
    this.client?.close();
    this.client = null;
  }

  start(EdgepushClient) {
    const client = (this.client = new EdgepushClient({
      url: this.urlValue,
      token: this.tokenValue || (() => this.fetchToken()),
    }));
    const deliver = (detail) => this.dispatch("event", { detail });
    client.onState((detail) => this.dispatch("state", { detail }));
    client.onError((detail) => this.dispatch("error", { detail }));
    client.onResync(() => this.dispatch("resync", { detail: {} }));
    if (this.eventsValue.length === 0) client.onUnknown(deliver);
    for (const name of this.eventsValue) client.on(name, deliver);
    for (const topic of this.topicsValue) {
      const subscription = client.subscribe(topic);
      for (const name of this.eventsValue) subscription.on(name, deliver);
      subscription.onResync(() => this.dispatch("resync", { detail: { topic } }));
      subscription.onError((detail) => this.dispatch("error", { detail }));
    }
    client.connect();
  }

  /** The token provider: GET tokenUrl with the session cookie, `{"token": ...}` back. */
  async fetchToken() {
    const response = await fetch(this.tokenUrlValue, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`${this.tokenUrlValue} answered ${response.status}`);
    return (await response.json()).token;
  }
}
