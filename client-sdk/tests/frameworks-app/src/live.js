// Components as an app writes them with the hooks; the same module is rendered to a string in
// Node (react-dom/server), where the hooks must do nothing. What they received is recorded in
// window.seen (browser only: handlers and effects never run on a server).
//
// <Live> owns the client; <Messages> and <Feed> mount once it exists (as a route's components
// mount below an app's client), so <StrictMode> mounts them twice with a client: each handler and
// subscription is made, removed and made again, and one of each must remain.
import { createElement as h, useEffect, useState } from "react";
import { useEdgepush, useEdgepushEvent, useEdgepushState, useEdgepushTopic } from "@edgepush/client/react";

/** @typedef {import("@edgepush/client").EdgepushClient} EdgepushClient */

/** @returns {{ received: string[], posted: string[], mounts: number }} */
function record() {
  const w = /** @type {any} */ (window);
  return (w.seen ??= { received: [], posted: [], mounts: 0 });
}

/** @param {{ url: string, token: string, topic?: string | null }} props */
export function Live({ url, token, topic }) {
  // A new token function on every render: the client must stay the same.
  const client = useEdgepush({ url, token: () => token });
  const state = useEdgepushState(client);
  const [showFeed, setShowFeed] = useState(true);
  return h(
    "section",
    null,
    h("p", { id: "status" }, state ? state.state : "idle"),
    client && h(Messages, { client }),
    h("button", { id: "hide-feed", onClick: () => setShowFeed(false) }, "hide the feed"),
    client && topic && showFeed && h(Feed, { client, topic }),
  );
}

/** @param {{ client: EdgepushClient | null }} props */
export function Messages({ client }) {
  const [label, setLabel] = useState("first");
  const [texts, setTexts] = useState(/** @type {string[]} */ ([]));
  // The handler of the latest render: after "relabel", events carry the new label.
  useEdgepushEvent(client, "Message", (event) => {
    const { text } = /** @type {{ text: string }} */ (event.payload);
    record().received.push(`${label}:${text}`);
    setTexts((/** @type {string[]} */ list) => [...list, `${label}:${text}`]);
  });
  useEffect(() => {
    record().mounts += 1; // twice under StrictMode's development build
  }, []);
  return h(
    "div",
    null,
    h("button", { id: "relabel", onClick: () => setLabel("second") }, label),
    h("ul", null, texts.map((/** @type {string} */ text, /** @type {number} */ i) => h("li", { key: i }, text))),
  );
}

/** @param {{ client: EdgepushClient | null, topic: string }} props */
export function Feed({ client, topic }) {
  const feed = useEdgepushTopic(client, topic);
  useEdgepushEvent(feed, "Posted", (event) => {
    record().posted.push(`${event.topic}:${/** @type {{ text: string }} */ (event.payload).text}`);
  });
  return h("p", { id: "feed" }, topic);
}
