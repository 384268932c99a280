// An app's Stimulus bootstrap (assets/bootstrap.js in a Symfony app): the SDK's controller as
// "edgepush", and the app's own controller that acts on its DOM events through data-action.
import { Application, Controller } from "@hotwired/stimulus";
import EdgepushController from "@edgepush/client/stimulus";

/** Records and lists what the edgepush controller dispatches (window.seen). */
class LogController extends Controller {
  static targets = ["list"];

  /** @param {CustomEvent<import("@edgepush/client").EdgepushEvent<{ text: string }>>} event */
  add({ detail }) {
    record().received.push(`${detail.name}:${detail.payload.text}`);
    const item = Object.assign(document.createElement("li"), { textContent: detail.payload.text });
    /** @type {HTMLElement} */ (/** @type {any} */ (this).listTarget).append(item);
  }

  /** @param {CustomEvent<import("@edgepush/client").ConnectionState>} event */
  state({ detail }) {
    record().states.push(detail.state);
  }
}

/** @returns {{ received: string[], states: string[] }} */
function record() {
  const w = /** @type {any} */ (window);
  return (w.seen ??= { received: [], states: [] });
}

record();
const application = Application.start();
application.register("edgepush", EdgepushController);
application.register("log", LogController);
