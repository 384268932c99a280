// The React app: <Live> under <StrictMode>, whose development build mounts it, unmounts it and
// mounts it again. The worker's URL, a token and a topic come in the fragment
// (`#url=…&token=…&topic=…`); window.rerender(changes) renders it again with changed props (a new
// url makes a new client), window.unmount() unmounts the app.
import { StrictMode, createElement as h } from "react";
import { createRoot } from "react-dom/client";
import { Live } from "./live.js";

const params = new URLSearchParams(location.hash.slice(1));
const root = createRoot(/** @type {HTMLElement} */ (document.getElementById("root")));
const props = { url: params.get("url") ?? "", token: params.get("token") ?? "", topic: params.get("topic") };
/** @param {Partial<typeof props>} changes */
const render = (changes) => root.render(h(StrictMode, null, h(Live, Object.assign(props, changes))));
render({});
Object.assign(window, { rerender: render, unmount: () => root.unmount() });
