// Two entries: react.html (a React app under <StrictMode> with the hooks) and src/stimulus.js
// (an app's Stimulus bootstrap with the controller), which the Symfony app of symfony/ loads as
// /assets/stimulus.js. Plain object, no `import "vite"`: the test runs the repository's Vite on a
// copy of this folder.
export default {
  // React's development build: only it runs <StrictMode>'s second mount, which the test is about.
  define: { "process.env.NODE_ENV": JSON.stringify("development") },
  optimizeDeps: { exclude: ["@edgepush/client"] },
  build: {
    minify: false,
    rolldownOptions: {
      input: { react: "react.html", stimulus: "src/stimulus.js" },
      output: { entryFileNames: "assets/[name].js" },
    },
  },
};
