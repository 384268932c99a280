// @edgepush/client/stimulus: a Stimulus controller (Symfony UX) over the SDK; @hotwired/stimulus
// is an optional peer dependency. Register it as "edgepush", the name the bundle's Twig helper
// edgepush_stimulus_controller() renders:
//
//   import EdgepushController from "@edgepush/client/stimulus";
//   application.register("edgepush", EdgepushController);
//
// connect() loads the SDK (once per page; after a failed load, again on the next connect()), makes
// a client and connects it; disconnect() (the element left the page) closes it. The next client of
// the page (a Turbo visit, a page restored from Turbo's cache) resumes from where the last one was,
// and so do its topics, so what was published meanwhile is replayed; a Turbo preview (a cached page
// shown while the real one loads) connects nothing.
// Values changed while connected (Turbo 8 morphing) take effect: new topics are subscribed and
// removed ones unsubscribed, the event handlers follow the event names, and a new url or token
// makes a new client. A token endpoint answering 401 or 403 (nobody is logged in) stops the client
// ("missing_token") instead of being asked every few seconds. What arrives is dispatched as DOM
// events on the element, which bubble, for `data-action`:
//   edgepush:event   detail: the event ({id, name, payload, ts, topic?})
//   edgepush:state   detail: the connection state ({state: "open", ...})
//   edgepush:error   detail: the error ({code, message, terminal, ...}; a topic's: {topic, code, message})
//   edgepush:resync  detail: {topic?}: events were lost for good, reload what depends on them
import { Controller } from "@hotwired/stimulus";
import { loadSdk } from "./load-sdk.js";

/** Where the last client of this page was, by url: `{client, topics}`, its own position and
 * those of its topics by topic, where the next one and its subscriptions resume. */
const positions = new Map();

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
    // A preview shows a cached copy of the page until the real one replaces it.
    if (globalThis.document?.documentElement.hasAttribute("data-turbo-preview")) return;
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
    const client = this.client;
    if (client) {
      const last = positions.get(this.url) ?? { topics: new Map() };
      last.client = client.position ?? last.client;
      for (const [topic, { position }] of this.subscriptions) if (position) last.topics.set(topic, position);
      positions.set(this.url, last);
    }
    client?.close();
    this.client = null;
  }

  start(EdgepushClient) {
    const url = (this.url = this.urlValue);
    const client = (this.client = new EdgepushClient({
      url,
      token: this.tokenValue || (() => this.fetchToken()),
      resume: positions.get(url)?.client,
    }));
    client.onState((detail) => this.dispatch("state", { detail }));
    client.onError((detail) => this.dispatch("error", { detail }));
    client.onResync(() => this.dispatch("resync", { detail: {} }));
    this.subscriptions = new Map();
    this.listen();
    this.topicsValueChanged(this.topicsValue, []);
    client.connect();
  }

  /** (Re)registers the event handlers of the client and of each subscription for eventsValue. */
  listen() {
    for (const remove of this.listening ?? []) remove();
    this.listening = [];
    if (this.eventsValue.length === 0) this.listening.push(this.client.onUnknown(this.deliver));
    for (const source of [this.client, ...this.subscriptions.values()]) this.hear(source);
  }

  /** Registers the event handlers of one source (the client, or a subscription). */
  hear(source) {
    for (const name of this.eventsValue) this.listening.push(source.on(name, this.deliver));
  }

  deliver = (detail) => this.dispatch("event", { detail });

  /** Subscribes to the topics new in `topics` and ends the subscriptions of those gone (Stimulus
   * calls it when data-edgepush-topics-value changes, e.g. under Turbo 8 morphing). */
  topicsValueChanged(topics) {
    const subscriptions = this.subscriptions;
    if (!this.client || !subscriptions) return;
    for (const topic of topics) {
      if (subscriptions.has(topic)) continue;
      const subscription = this.client.subscribe(topic, { resume: positions.get(this.url)?.topics.get(topic) });
      subscriptions.set(topic, subscription);
      this.hear(subscription);
      subscription.onResync(() => this.dispatch("resync", { detail: { topic } }));
      subscription.onError((detail) => this.dispatch("error", { detail }));
    }
    for (const [topic, subscription] of subscriptions) {
      if (!topics.includes(topic)) {
        subscription.unsubscribe();
        subscriptions.delete(topic);
      }
    }
  }

  eventsValueChanged() {
    if (this.client) this.listen();
  }

  /** A new server or token: a new client (resuming where this one was, on the same server). */
  urlValueChanged() {
    if (this.session) {
      this.disconnect();
      this.connect();
    }
  }

  tokenValueChanged() {
    this.urlValueChanged();
  }

  tokenUrlValueChanged() {
    this.urlValueChanged();
  }

  /** The token provider: GET tokenUrl with the session cookie, `{"token": ...}` back. A 401 or
   * 403 (nobody is logged in) rejects with `terminal`: the client stops ("missing_token") until
   * the element connects again. */
  async fetchToken() {
    const response = await fetch(this.tokenUrlValue, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) {
      const { status } = response;
      throw Object.assign(new Error(`${this.tokenUrlValue} answered ${status}`), { terminal: status == 401 || status == 403 });
    }
    return (await response.json()).token;
  }
}
