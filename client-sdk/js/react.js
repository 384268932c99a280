// @edgepush/client/react: React hooks over the SDK (react is an optional peer dependency).
//
// - useEdgepush(options) creates one client per mounted component, connects it and closes it on
//   unmount. Under <StrictMode>, whose mount, unmount and mount again runs effects twice, the
//   first mount is cleaned up before its client exists, so one client and one socket remain.
// - useEdgepushEvent(source, name, handler): the handler registered while mounted (removed on
//   cleanup), always the latest one the component rendered with.
// - useEdgepushTopic(client, topic) and useEdgepushState(client).
// Nothing runs during a server render (effects do not), and the SDK's module and wasm are loaded
// by the first effect that needs them, with a dynamic import: a server never imports them.
import { useEffect, useRef, useState } from "react";

/** Stands for "a token function" in the effect's dependencies: a new function is no new client. */
const PROVIDER = Symbol("token provider");

let sdk;
/** The SDK's module, initialized once (its `init()` fetches the .wasm next to it). */
function loadSdk() {
  sdk ??= import("./edgepush_client.js").then(async (module) => {
    await module.default();
    return module;
  });
  return sdk;
}

/**
 * A client for `options` ({url, token, ...} as for `new EdgepushClient`), connected while the
 * component is mounted; `null` until it exists (and during a server render, and when `options` is
 * null). A new client is made only when `url` or a string `token` changes; a token function may be
 * a new one on every render (the latest one is asked on each connect).
 */
export function useEdgepush(options) {
  const [client, setClient] = useState(null);
  const latest = useRef(options);
  useEffect(() => {
    latest.current = options;
  });
  const url = options?.url;
  const token = typeof options?.token === "function" ? PROVIDER : options?.token;

  useEffect(() => {
    if (!url) return undefined;
    let created = null;
    let cancelled = false;
    loadSdk().then(
      ({ EdgepushClient }) => {
        if (cancelled) return;
        const { token: given, ...rest } = latest.current;
        const provider = typeof given === "function" ? () => latest.current.token() : given;
        created = new EdgepushClient({ ...rest, token: provider });
        setClient(created);
      },
      (error) => !cancelled && console.warn("edgepush: the SDK did not load:", error),
    );
    return () => {
      cancelled = true;
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

/** A subscription to `topic` while mounted (unsubscribed on cleanup); `null` without a client. */
export function useEdgepushTopic(client, topic, options) {
  const [subscription, setSubscription] = useState(null);
  const grant = options?.token;
  useEffect(() => {
    if (!client || !topic) return undefined;
    const created = client.subscribe(topic, grant ? { token: grant } : undefined);
    setSubscription(created);
    return () => {
      created.unsubscribe();
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
