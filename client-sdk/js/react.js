// @edgepush/client/react: React hooks over the SDK (react is an optional peer dependency).
//
// - useEdgepush(options) creates one client per mounted component, connects it and closes it on
//   unmount. Under <StrictMode>, whose mount, unmount and mount again runs effects twice, the
//   first mount is cleaned up before its client exists, so one client and one socket remain. A
//   client made for a new url or token string resumes from where the one before it was, and so
//   do its topics (see `lineages`). Options the client refuses (its constructor throws) are
//   logged with console.error.
// - useEdgepushEvent(source, name, handler): the handler registered while mounted (removed on
//   cleanup), always the latest one the component rendered with.
// - useEdgepushTopic(client, topic, options): a new topic or grant is subscribed before the old
//   subscription ends, so that the core keeps the topic's stream when it is the same topic.
// - useEdgepushState(client).
// Nothing runs during a server render (effects do not), and the SDK's module and wasm are loaded
// by the first effect that needs them (after a failed load, by the next one), with a dynamic
// import: a server never imports them.
import { useEffect, useRef, useState } from "react";
import { loadSdk } from "./load-sdk.js";

/** Stands for "a token function" in the effect's dependencies: a new function is no new client. */
const PROVIDER = Symbol("token provider");

/** The clients one useEdgepush made one after the other share a map, by topic, of where the last
 * subscription of useEdgepushTopic to it was when it ended, and on which client: a subscription
 * on a later client resumes from there. The components of the topics may stay mounted through the
 * change of clients, or unmount and mount again (`client && <Feed client={client} />`). */
const lineages = new WeakMap();

/**
 * A client for `options` ({url, token, ...} as for `new EdgepushClient`), connected while the
 * component is mounted; `null` until it exists (and during a server render, and when `options` is
 * null). A new client is made only when `url` or a string `token` changes; a token function may be
 * a new one on every render (the latest one is asked on each connect).
 */
export function useEdgepush(options) {
  const [client, setClient] = useState(null);
  const latest = useRef(options);
  // Where the last client was, for the next one (a new url or token string): the events published
  // meanwhile are replayed, not lost; and where its topics were (`lineages`).
  const position = useRef();
  const [topics] = useState(() => new Map());
  useEffect(() => {
    latest.current = options;
  });
  const url = options?.url;
  const token = typeof options?.token === "function" ? PROVIDER : options?.token;

  useEffect(() => {
    // Nobody (options null): the next client is another start, not a continuation.
    if (!url) {
      position.current = undefined;
      return void topics.clear();
    }
    let created = null;
    let cancelled = false;
    loadSdk().then(
      ({ EdgepushClient }) => {
        if (cancelled) return;
        const { token: given, ...rest } = latest.current;
        const provider = typeof given === "function" ? () => latest.current.token() : given;
        try {
          created = new EdgepushClient({ ...rest, token: provider, resume: position.current ?? rest.resume });
        } catch (error) {
          // Bad options (a malformed url, an empty token string): a TypeError saying which.
          return console.error(`edgepush: ${error?.message ?? error}`);
        }
        lineages.set(created, topics);
        setClient(created);
      },
      (error) => !cancelled && console.warn("edgepush: the SDK did not load:", error),
    );
    return () => {
      cancelled = true;
      position.current = created?.position ?? position.current;
      created?.close();
      setClient(null);
    };
  }, [url, token]);

  // Connects once the client is committed: the handlers of this render (the effects of children
  // and of later hooks) are registered before the first event can arrive.
  useEffect(() => {
    client?.connect();
  }, [client]);
  return client;
}

/**
 * Calls `handler` with every event called `name` of `source` (a client, or a subscription of
 * useEdgepushTopic) while mounted; the handler is the one of the latest render.
 */
export function useEdgepushEvent(source, name, handler) {
  const latest = useRef(handler);
  useEffect(() => {
    latest.current = handler;
  });
  useEffect(() => (source && name ? source.on(name, (event) => latest.current(event)) : undefined), [source, name]);
}

/**
 * A subscription to `topic` while mounted (unsubscribed on cleanup); `null` without a client. The
 * old subscription ends after the new one is made (a microtask later), so that a new grant for the
 * same topic (a rotated subscription token) only updates the token: its stream goes on from the
 * last event, with nothing lost and no topic socket opened again. On a later client of the same
 * useEdgepush (a new url or token string) the topic resumes from where the last subscription to it
 * ended; else it starts from `options.resume`, if given.
 */
export function useEdgepushTopic(client, topic, options) {
  const [subscription, setSubscription] = useState(null);
  const grant = options?.token;
  useEffect(() => {
    if (!client || !topic) return undefined;
    const topics = lineages.get(client);
    const last = topics?.get(topic);
    const resume = (last?.client !== client && last?.position) || options?.resume;
    const created = client.subscribe(topic, { token: grant, resume });
    setSubscription(created);
    return () => {
      // Known also once the client is closed (by useEdgepush, before its next one).
      topics?.set(topic, { client, position: created.position });
      // React runs this cleanup and the next effect together: the next subscribe comes first.
      queueMicrotask(() => created.unsubscribe());
      setSubscription(null);
    };
  }, [client, topic, grant]);
  return subscription;
}

/** The client's connection state ({state: "open", ...}), updated on every change; `null` without a client. */
export function useEdgepushState(client) {
  const [state, setState] = useState(null);
  useEffect(() => {
    if (!client) return undefined;
    setState(client.state);
    return client.onState(setState);
  }, [client]);
  return client ? state : null;
}
