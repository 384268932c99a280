// The SDK's module for the React hooks and the Stimulus controller, loaded by the first of them
// that needs it, with a dynamic import: a page (or a server render) that uses neither loads
// nothing of it.

let sdk;
/** The SDK's module, initialized once (its `init()` fetches the .wasm next to it). A failed load
 * (offline, a deploy under way) is forgotten: the next caller tries again. */
export function loadSdk() {
  sdk ??= import("./edgepush_client.js")
    .then(async (module) => {
      await module.default();
      return module;
    })
    .catch((error) => {
      sdk = undefined;
      throw error;
    });
  return sdk;
}
