// Types of @edgepush/client/react (React 18 or 19, an optional peer dependency).
import type {
  ClientOptions,
  ConnectionState,
  EdgepushClient,
  EdgepushEvent,
  EdgepushSubscription,
  SubscribeOptions,
  TopicEvent,
} from "./edgepush_client.js";

/**
 * A client for `options`, connected while the component is mounted and closed on unmount; `null`
 * until it exists, during a server render, and while `options` is null or undefined (e.g. nobody
 * is logged in). A new client is made only when `url` or a string `token` changes, and it resumes
 * from where the one before it was (`resume`: the events published meanwhile are replayed), as
 * do the topics useEdgepushTopic subscribes on it; a token function may be a new one on every
 * render (the latest is asked before every connect).
 * Options the client refuses (its constructor's TypeError) are logged with console.error, and the
 * hook stays `null`. The hook loads the SDK and its .wasm (`init()`) itself, on the first mount
 * in a browser.
 */
export function useEdgepush(options: ClientOptions | null | undefined): EdgepushClient | null;

/**
 * Calls `handler` with every event called `name` of `source` (a client of useEdgepush, or a
 * subscription of useEdgepushTopic) while the component is mounted; always the handler of the
 * latest render. Does nothing while `source` is null.
 */
export function useEdgepushEvent<P = unknown>(
  source: EdgepushSubscription | null | undefined,
  name: string,
  handler: (event: TopicEvent<P>) => void,
): void;
export function useEdgepushEvent<P = unknown>(
  source: EdgepushClient | null | undefined,
  name: string,
  handler: (event: EdgepushEvent<P>) => void,
): void;

/**
 * A subscription of `client` to `topic` while the component is mounted (unsubscribed on unmount or
 * when `topic` or `options.token` changes, right after the new subscription is made: a new token
 * for the same topic goes on from the last event); `null` while `client` or `topic` is missing.
 * On a later client of the same useEdgepush (after its url or token string changed) the topic
 * resumes from where the last subscription to it ended, also when the component unmounted in
 * between: the events published meanwhile are replayed. Else it starts from `options.resume` (a
 * `position` saved earlier, e.g. before a reload), if given.
 */
export function useEdgepushTopic(
  client: EdgepushClient | null | undefined,
  topic: string | null | undefined,
  options?: SubscribeOptions,
): EdgepushSubscription | null;

/** The client's connection state, re-rendering on every change; `null` without a client. */
export function useEdgepushState(client: EdgepushClient | null | undefined): ConnectionState | null;
