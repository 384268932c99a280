// The edgepush demo page: a `Message` event sets the headline, a `Background` event sets the page
// colour. Everything about the connection (socket, token expiry, backoff, resume, parsing frames)
// is the SDK's job; this file only renders what the SDK reports.
//
// Topics: every page subscribes to a public feed topic (`feed:demo`: `Posted` events with a
// `title`, published with the signed commands of the Feed tab) and to `live:demo`, whose
// occupancy frames are the number of pages watching. `&room=NAME` in the link uses
// `feed:NAME` and `live:NAME` instead (the tests use one room each).
//
// The token comes from the link (`/#token=<jwt>`, printed by scripts/dev.sh). The fragment never
// reaches a server, and the page removes it from the address bar once read. In a real app the
// token comes from your backend, e.g. `token: () => fetch("/edgepush/token").then(r => r.text())`.

const LOG_LIMIT = 50;
const TOKEN_KEY = "edgepush.demo.token";
const ROOM_KEY = "edgepush.demo.room";
const FEED_LIMIT = 20;
// The close codes this page acts on, named by their reason in protocol/codes.json
// (client-sdk/tests/js/codes.test.mjs checks them against that table).
const CLOSE = { tokenExpired: 4001 };

const $ = (id) => document.getElementById(id);
const ui = {
  status: $("status"),
  statusText: $("status-text"),
  userChip: $("user-chip"),
  userChipId: $("user-chip-id"),
  notice: $("notice"),
  noticeTitle: $("notice-title"),
  noticeBody: $("notice-body"),
  noticeCode: $("notice-code"),
  headline: $("headline"),
  headlineMeta: $("headline-meta"),
  swatch: $("swatch"),
  backgroundValue: $("background-value"),
  factState: $("fact-state"),
  factUser: $("fact-user"),
  factExpires: $("fact-expires"),
  factLastId: $("fact-last-id"),
  factServer: $("fact-server"),
  log: $("log"),
  feed: $("feed"),
  feedEmpty: $("feed-empty"),
  feedTopic: $("feed-topic"),
  viewerCount: $("viewer-count"),
  viewersTopic: $("viewers-topic"),
  logCount: $("log-count"),
  logEmpty: $("log-empty"),
};

let eventCount = 0;
let countdown = null;
let stopped = false;

// A new link pasted into this tab (or a link to it followed here) changes only the fragment, which
// loads nothing: reload, so that the page takes the new token (and room) as on a first visit and
// removes it from the address bar again, instead of staying connected as the previous user.
window.addEventListener("hashchange", () => {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.has("token") || params.has("room")) location.reload();
});

main().catch((error) => {
  console.error(error);
  showNotice("error", "Something went wrong", String(error?.message ?? error));
  setStatus("error", "Error");
});

async function main() {
  ui.factServer.textContent = location.host;
  setupTabs();

  const room = takeRoom();
  const feedTopic = `feed:${room}`;
  const viewersTopic = `live:${room}`;
  ui.feedTopic.textContent = feedTopic;
  ui.viewersTopic.textContent = viewersTopic;
  const token = takeToken();
  if (!token) {
    setStatus("idle", "Not connected");
    ui.factState.textContent = "Not connected";
    renderSnippets("42", feedTopic);
    showNotice(
      "info",
      "Open the demo link to connect",
      "This page connects with a token for one user. Run the command below: it starts edgepush " +
        "and prints a link with a fresh token. In your app, your backend issues the token.",
      "scripts/dev.sh",
    );
    return;
  }

  const claims = readClaims(token);
  if (!claims) {
    setStatus("error", "Invalid link");
    ui.factState.textContent = "Invalid link";
    renderSnippets("42", feedTopic);
    showNotice(
      "error",
      "This link does not carry a valid token",
      "The token in the link is not a JWT. Copy the whole link that scripts/dev.sh printed, " +
        "or run it again for a new one.",
      "scripts/dev.sh",
    );
    return;
  }
  const user = String(claims.sub ?? "");
  showUser(user);
  renderSnippets(user || "42", feedTopic);
  showExpiry(claims.exp);

  let sdk;
  try {
    sdk = await import("./sdk/edgepush_client.js");
    await sdk.default();
  } catch (error) {
    console.error(error);
    setStatus("error", "SDK missing");
    showNotice(
      "error",
      "The SDK package is not built",
      "This page loads the edgepush browser SDK from ./sdk/. Build it and copy it next to the page:",
      "scripts/build-sdk.sh && www/build.sh",
    );
    return;
  }

  const client = new sdk.EdgepushClient({ url: location.origin, token });

  client.onState((state) => renderState(state, client, claims));
  client.onMessage(renderMessage);
  client.onBackground(renderBackground);
  client.onUnknown((event) => addEvent(event, shortJson(event.payload)));
  client.onResync(() => addSystem("Some events could not be replayed: an app reloads its state here", "warning"));
  client.onError((error) => {
    if (error.code === "token_expired") {
      showExpired(claims);
    } else if (error.code === "bad_payload") {
      addSystem(`Skipped a ${error.event} event: ${error.message}`, "warning");
    } else if (error.terminal) {
      showNotice("error", "The server refused the connection", error.message);
    } else {
      console.warn("edgepush:", error.message);
    }
  });

  const feed = client.subscribe(feedTopic);
  feed.on("Posted", renderPost);
  feed.onError((error) => addSystem(`${error.topic}: ${error.message}`, "warning"));
  const viewers = client.subscribe(viewersTopic);
  viewers.onOccupancy((count) => (ui.viewerCount.textContent = String(count)));
  viewers.onError((error) => addSystem(`${error.topic}: ${error.message}`, "warning"));

  // Handy in the devtools console: `edgepushDemo.client.state`.
  window.edgepushDemo = { client, feed, viewers };
  client.connect();
}

// ---------- token ----------

/** Reads the token from the link's fragment (then removes it from the address bar) or, after a
 * reload, from this tab's session storage. */
function takeToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const fromLink = params.get("token");
  if (fromLink) {
    try {
      sessionStorage.setItem(TOKEN_KEY, fromLink);
    } catch {
      // Storage may be disabled; the page still works until a reload.
    }
    history.replaceState(null, "", location.pathname + location.search);
    return fromLink.trim();
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** The demo room from the link (`&room=NAME`), kept for reloads of this tab; "demo" by default. */
function takeRoom() {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get("room");
  try {
    if (fromLink) sessionStorage.setItem(ROOM_KEY, fromLink);
    return fromLink || sessionStorage.getItem(ROOM_KEY) || "demo";
  } catch {
    return fromLink || "demo";
  }
}

/** The JWT's claims, for display only (the server verifies the signature; no secret is here). */
function readClaims(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

// ---------- connection state ----------

function renderState(state, client, claims) {
  clearInterval(countdown);
  countdown = null;
  switch (state.state) {
    case "idle":
      setStatus("connecting", "Starting…");
      ui.factState.textContent = "Starting";
      break;
    case "connecting":
      if (state.attempt > 0) {
        setStatus("reconnecting", "Reconnecting…");
        ui.factState.textContent = `Reconnecting (attempt ${state.attempt})`;
      } else {
        setStatus("connecting", "Connecting…");
        ui.factState.textContent = "Connecting";
      }
      break;
    case "open": {
      const wasDown = ui.status.dataset.state === "reconnecting";
      setStatus("live", "Live");
      ui.factState.textContent = "Live";
      const position = client.position;
      if (position && eventCount === 0) ui.factLastId.textContent = `#${position.lastId}`;
      addSystem(wasDown ? "Reconnected: missed events are replayed" : "Connected", "system");
      break;
    }
    case "reconnecting": {
      if (ui.status.dataset.state === "live") addSystem("Connection lost", "system");
      const until = Date.now() + state.delayMs;
      const tick = () => {
        const seconds = Math.ceil((until - Date.now()) / 1000);
        setStatus("reconnecting", seconds > 0 ? `Reconnecting in ${seconds} s` : "Reconnecting…");
      };
      tick();
      countdown = setInterval(tick, 250);
      ui.factState.textContent = `Waiting to retry (attempt ${state.attempt})`;
      break;
    }
    case "offline":
      setStatus("offline", "Offline");
      ui.factState.textContent = "Offline: waiting for the network";
      break;
    case "closed":
      if (state.code === CLOSE.tokenExpired) {
        showExpired(claims);
      } else if (!stopped) {
        setStatus("stopped", "Disconnected");
        ui.factState.textContent = `Stopped (code ${state.code})`;
      }
      break;
  }
}

function setStatus(kind, text) {
  ui.status.dataset.state = kind;
  ui.statusText.textContent = text;
}

function showUser(user) {
  ui.userChip.hidden = !user;
  ui.userChipId.textContent = user;
  ui.factUser.textContent = user ? `User ${user}` : "—";
}

function showExpiry(exp) {
  if (typeof exp !== "number") {
    ui.factExpires.textContent = "never";
    return;
  }
  const render = () => {
    const left = exp * 1000 - Date.now();
    ui.factExpires.textContent =
      left > 0 ? `in ${duration(left)}` : `${duration(-left)} ago`;
    ui.factExpires.title = new Date(exp * 1000).toLocaleString();
  };
  render();
  setInterval(render, 15000);
}

function showExpired(claims) {
  stopped = true;
  setStatus("expired", "Link expired");
  ui.factState.textContent = "Stopped: token expired";
  const when =
    typeof claims.exp === "number"
      ? ` It expired at ${new Date(claims.exp * 1000).toLocaleTimeString()} ` +
        `(${duration(Date.now() - claims.exp * 1000)} ago).`
      : "";
  showNotice(
    "error",
    "This demo link has expired",
    `The token in the link is no longer valid, so the page stopped instead of retrying.${when} ` +
      "Run scripts/dev.sh again for a fresh link. In your app, give the SDK a token provider " +
      "that asks your backend: it then renews expired tokens by itself.",
    "scripts/dev.sh",
  );
}

function showNotice(tone, title, body, code) {
  ui.notice.hidden = false;
  ui.notice.dataset.tone = tone;
  ui.noticeTitle.textContent = title;
  ui.noticeBody.textContent = body;
  ui.noticeCode.hidden = !code;
  ui.noticeCode.textContent = code ? `$ ${code}` : "";
}

// ---------- events ----------

function renderMessage(event) {
  ui.headline.textContent = event.payload.text;
  ui.headline.classList.remove("is-empty", "is-new");
  void ui.headline.offsetWidth; // restart the animation
  ui.headline.classList.add("is-new");
  ui.headlineMeta.textContent = `Event #${event.id} · ${clock(event.ts)}`;
  addEvent(event, `“${event.payload.text}”`);
}

function renderBackground(event) {
  const color = event.payload.color;
  if (!CSS.supports("color", color)) {
    addEvent(event, `${color} is not a CSS colour: ignored`);
    return;
  }
  document.body.style.backgroundColor = color;
  ui.swatch.style.background = color;
  ui.backgroundValue.textContent = color;
  // The swatch has no transition: its computed colour is the new one, as rgb(...).
  const [r, g, b] = (getComputedStyle(ui.swatch).backgroundColor.match(/[\d.]+/g) ?? [])
    .map(Number);
  const luminance = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  document.body.dataset.tone = luminance < 0.5 ? "dark" : "light";
  addEvent(event, color, color);
}

function renderPost(event) {
  const title = typeof event.payload?.title === "string" ? event.payload.title : shortJson(event.payload);
  const item = logItem(`#${event.id}`, "", title, event.ts);
  item.dataset.id = String(event.id);
  ui.feed.prepend(item);
  while (ui.feed.children.length > FEED_LIMIT) ui.feed.lastElementChild.remove();
  ui.feedEmpty.hidden = true;
}

function addEvent(event, detail, color) {
  eventCount += 1;
  ui.logCount.textContent = String(eventCount);
  ui.factLastId.textContent = `#${event.id}`;
  const item = logItem(`#${event.id}`, event.name, detail, event.ts, color);
  item.dataset.id = String(event.id);
  item.dataset.name = event.name;
  prepend(item);
}

function addSystem(text, kind) {
  const item = logItem(kind === "warning" ? "!" : "•", "", text, Date.now());
  item.classList.add(kind === "warning" ? "is-warning" : "is-system");
  prepend(item);
}

function logItem(label, name, detail, ts, color) {
  const item = document.createElement("li");
  item.className = "is-new";
  const id = el("span", "log-id", label);
  const body = el("span", "log-body");
  if (color) {
    const dot = el("span", "log-dot");
    dot.style.background = color;
    body.append(dot);
  }
  if (name) body.append(el("span", "log-name", name));
  const text = el("span", "log-detail", detail);
  text.title = detail;
  body.append(text);
  item.append(id, body, el("time", "log-time", clock(ts)));
  return item;
}

function prepend(item) {
  ui.log.prepend(item);
  while (ui.log.children.length > LOG_LIMIT) ui.log.lastElementChild.remove();
  ui.logEmpty.hidden = true;
}

// ---------- publish snippets ----------

function renderSnippets(user, topic) {
  const u = shellQuote(user);
  const t = shellQuote(topic);
  fill($("snippet-feed"), [
    ["c", "# one signed publish to the topic reaches every page that subscribed to it"],
    ["$", "source www/demo-env.sh"],
    ["$", `php php/examples/post_to_feed.php ${t} "Hello, everyone"`],
    ["$", `target/release/edgepush publish --topic ${t} --name Posted --payload '{"title":"Hi all"}'`],
  ]);
  fill($("snippet-php"), [
    ["c", "# from the repository, with the dev key scripts/dev.sh wrote to .dev.vars"],
    ["$", "source www/demo-env.sh"],
    ["$", `php php/examples/send_message.php ${u} "Hello from PHP"`],
    ["$", `php php/examples/set_color.php ${u} teal`],
  ]);
  fill($("snippet-cli"), [
    ["c", "# the signing CLI (cargo build --release -p edgepush-cli)"],
    ["$", "source www/demo-env.sh"],
    ["$", `target/release/edgepush publish --user ${u} --name Message --payload '{"text":"Hi"}'`],
    ["$", `target/release/edgepush publish --user ${u} --name Background --payload '{"color":"#f59e0b"}'`],
  ]);
}

function fill(code, lines) {
  code.replaceChildren();
  const plain = [];
  for (const [kind, text] of lines) {
    if (kind === "c") {
      code.append(el("span", "c", text));
    } else {
      code.append(el("span", "p", "$ "), text);
      plain.push(text);
    }
    code.append("\n");
  }
  code.dataset.commands = plain.join("\n");
}

function setupTabs() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".tab")) {
        other.setAttribute("aria-selected", String(other === tab));
      }
      for (const panel of document.querySelectorAll("[data-panel]")) {
        panel.hidden = panel.dataset.panel !== tab.dataset.tab;
      }
    });
  }
  for (const button of document.querySelectorAll(".copy")) {
    button.addEventListener("click", async () => {
      const text = $(`snippet-${button.dataset.copy}`).dataset.commands ?? "";
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Select and copy";
      }
      setTimeout(() => (button.textContent = "Copy"), 1500);
    });
  }
}

// ---------- small helpers ----------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function duration(ms) {
  const minutes = Math.round(ms / 60000);
  if (ms < 60000) return `${Math.max(1, Math.round(ms / 1000))} s`;
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
}

function shortJson(value) {
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

function shellQuote(text) {
  return /^[A-Za-z0-9_.:@-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
