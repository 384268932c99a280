// Makes the README's picture of the demo, www/screenshot.png:
//   node www/tests/readme-screenshot.mjs      (after the builds, like the tests)
// Starts its own worker (port 8787 when free, so the picture shows the README's address), opens
// the page for user 42 in headless Chromium, publishes a few events and takes the screenshot.
import { join } from "node:path";

import * as h from "./harness.mjs";

h.assertSdkBuilt();
let port;
try {
  await fetch("http://127.0.0.1:8787/health", { signal: AbortSignal.timeout(500) });
  port = undefined; // taken (scripts/dev.sh is running): any free port
} catch {
  port = 8787;
}
const worker = await h.startWorker("readme-screenshot", { port });
const browser = await h.launchBrowser();
try {
  const page = await h.openDemo(browser, worker.url, h.mintToken("42", 86400));
  await page.waitForSelector('#status[data-state="live"]', { timeout: 15000 });
  const events = [
    ["Message", { text: "Hello from the backend" }],
    ["Background", { color: "#fde68a" }],
    ["Message", { text: "Invoice INV-2041 was paid" }],
    ["Background", { color: "#c7d2fe" }],
    ["Message", { text: "Your order #1024 has shipped" }],
  ];
  for (const [name, payload] of events) {
    await h.publish(worker.url, "42", name, payload);
    await h.sleep(350);
  }
  await page.waitForFunction(
    () => document.getElementById("headline").textContent === "Your order #1024 has shipped" &&
      getComputedStyle(document.body).backgroundColor === "rgb(199, 210, 254)",
    null,
    { timeout: 5000 },
  );
  await page.waitForTimeout(800); // let the arrival animations finish
  const path = join(h.root, "www", "screenshot.png");
  await page.screenshot({ path });
  if (page.problems.length) throw new Error(page.problems.join("\n"));
  console.log(`wrote ${path}`);
} finally {
  await browser.close();
  await worker.stop("SIGTERM");
}
