// Types of @edgepush/client/stimulus (@hotwired/stimulus 3, an optional peer dependency).
import { Controller } from "@hotwired/stimulus";
import type { EdgepushClient } from "./edgepush_client.js";

/**
 * Connects while its element is on the page and dispatches what arrives as DOM events on it
 * (bubbling): `edgepush:event` (detail: the event), `edgepush:state` (the connection state),
 * `edgepush:error`, `edgepush:resync`. Register it as "edgepush" (the name the bundle's
 * `edgepush_stimulus_controller()` renders). The next client of the page (a Turbo visit, a page
 * restored from Turbo's cache) resumes from where the last one was, and so do its topics; a
 * Turbo preview connects nothing; values changed while connected (Turbo 8 morphing) take effect.
 */
export default class EdgepushController extends Controller<HTMLElement> {
  static values: {
    url: StringConstructor;
    tokenUrl: StringConstructor;
    token: StringConstructor;
    events: ArrayConstructor;
    topics: ArrayConstructor;
  };
  /** The worker's URL (`data-edgepush-url-value`). */
  urlValue: string;
  /** The token endpoint, asked before every connect (`data-edgepush-token-url-value`). */
  tokenUrlValue: string;
  /** A fixed token instead (`data-edgepush-token-value`). */
  tokenValue: string;
  /** Event names to dispatch; empty: every event of the user (`data-edgepush-events-value`, JSON). */
  eventsValue: string[];
  /** Topics to subscribe to (`data-edgepush-topics-value`, JSON). */
  topicsValue: string[];
  /** The client while connected. */
  client: EdgepushClient | null;
  connect(): void;
  disconnect(): void;
  /** Subscribes to the topics added, unsubscribes those removed. */
  topicsValueChanged(topics: string[]): void;
  /** Dispatches the events now named. */
  eventsValueChanged(): void;
  /** Makes a new client for the new URL (also for a new token or token URL). */
  urlValueChanged(): void;
  tokenValueChanged(): void;
  tokenUrlValueChanged(): void;
  /** Fetches a connect token from tokenUrlValue (override to get it elsewhere). Rejects with an
   * error whose `terminal` is true when the endpoint answered 401 or 403 (nobody is logged in):
   * the client then stops with "missing_token" instead of asking again (see TokenProviderError). */
  fetchToken(): Promise<string>;
}
