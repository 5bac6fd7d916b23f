// The member app's own script: installs the service worker. Card form, bank link and
// passkey glue hook in below, each only on the page that has its element.
if ("serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    navigator.serviceWorker.register("/app/sw.js", { scope: "/app" }).catch(() => {});
  });
}
