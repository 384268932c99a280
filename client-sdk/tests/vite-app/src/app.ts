// What an app does with the SDK: init, connect with a token, render events. The worker's URL and
// a token come in the page's fragment (`#url=…&token=…`), as the demo page takes its token.
import type { EdgepushClient as Client, InitOutput } from "@edgepush/client";

declare global {
  interface Window {
    received: string[];
    connection: string;
  }
}

export async function start(init: () => Promise<InitOutput>, EdgepushClient: typeof Client): Promise<void> {
  const params = new URLSearchParams(location.hash.slice(1));
  const status = document.getElementById("status")!;
  const list = document.getElementById("events")!;
  window.received = [];
  await init();
  const client = new EdgepushClient({ url: params.get("url")!, token: params.get("token")! });
  client.onState((s) => (status.textContent = window.connection = s.state));
  client.onMessage((e) => {
    window.received.push(e.payload.text);
    list.append(Object.assign(document.createElement("li"), { textContent: e.payload.text }));
  });
  client.connect();
}
