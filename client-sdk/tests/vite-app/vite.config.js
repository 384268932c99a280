// Two pages: index.html imports "@edgepush/client" (the .wasm fetched by URL, emitted by Vite as
// an asset), inline.html imports "@edgepush/client/inline" (the wasm inside the module).
// Plain object, no `import "vite"`: the test runs the repository's Vite on a copy of this folder.
export default {
  // In `vite dev`, pre-bundling would move the glue away from its .wasm (vitejs/vite#8427).
  optimizeDeps: { exclude: ["@edgepush/client"] },
  build: {
    rolldownOptions: { input: { index: "index.html", inline: "inline.html" } },
  },
};
