// The member app's own script, kept small: it installs the service worker and glues the
// providers' scripts (Stripe's card form, Plaid Link) and passkeys (SimpleWebAuthn) to
// this app's routes. Everything else is plain HTML forms and htmx attributes.
(function () {
  "use strict";

  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/app/sw.js", { scope: "/app" }).catch(function () {});
    });
  }

  function post(url, csrf, fields, json) {
    var body = json ? JSON.stringify(fields) : new URLSearchParams(fields || {});
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": json ? "application/json" : "application/x-www-form-urlencoded" },
      body: body
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.detail || "Something went wrong. Try again.");
        return data;
      });
    });
  }

  function showError(el, message) {
    if (!el) return;
    el.textContent = message;
    el.classList.toggle("hidden", !message);
  }

  // Stripe's card form: the number goes to Stripe; this server gets the SetupIntent id.
  function cardForm() {
    var host = document.getElementById("card-element");
    var form = document.getElementById("card-confirm-form");
    if (!host || !form || typeof window.Stripe !== "function") return;
    var stripe = window.Stripe(host.dataset.stripeKey);
    var card = stripe.elements().create("card");
    card.mount(host);
    var error = document.getElementById("card-error");
    var button = document.getElementById("card-save");
    form.addEventListener("submit", function (event) {
      if (form.elements.setup_intent_id.value) return; // confirmed: let the form go
      event.preventDefault();
      button.disabled = true;
      showError(error, "");
      post("/app/cards/setup-intents", host.dataset.csrf)
        .then(function (data) { return stripe.confirmCardSetup(data.client_secret, { payment_method: { card: card } }); })
        .then(function (result) {
          if (result.error) throw new Error(result.error.message);
          form.elements.setup_intent_id.value = result.setupIntent.id;
          form.submit();
        })
        .catch(function (e) { showError(error, e.message); button.disabled = false; });
    });
  }

  // Plaid Link: a new bank link, or update mode for a link whose sign-in expired. The
  // buttons come disabled and are enabled here, once Plaid's script has loaded: a tap before
  // that would do nothing at all.
  function plaidLink() {
    var start = document.getElementById("plaid-link");
    if (!start) return;
    var error = document.getElementById("plaid-error");
    if (!window.Plaid) {
      showError(error, start.dataset.unavailable);
      return;
    }
    var csrf = start.dataset.csrf;
    function open(itemId) {
      showError(error, "");
      post("/app/cards/plaid/link-token", csrf, itemId ? { item_id: itemId } : {})
        .then(function (data) {
          window.Plaid.create({
            token: data.link_token,
            onSuccess: function (publicToken) {
              var form;
              if (itemId) {
                form = document.getElementById("plaid-repaired-form");
                form.action = "/app/cards/plaid/" + itemId + "/repaired";
              } else {
                form = document.getElementById("plaid-exchange-form");
                form.elements.public_token.value = publicToken;
              }
              form.submit();
            },
            onExit: function () {}
          }).open();
        })
        .catch(function (e) { showError(error, e.message); });
    }
    start.addEventListener("click", function () { open(null); });
    start.disabled = false;
    document.querySelectorAll("[data-plaid-relink]").forEach(function (button) {
      button.addEventListener("click", function () { open(button.dataset.plaidRelink); });
      button.disabled = false;
    });
  }

  // Passkeys through SimpleWebAuthn's browser library (vendored).
  function passkeys() {
    var lib = window.SimpleWebAuthnBrowser;
    if (!lib || !lib.browserSupportsWebAuthn()) return;
    var signIn = document.querySelector("[data-passkey-sign-in]");
    if (signIn) {
      signIn.classList.remove("hidden");
      var error = signIn.querySelector("[data-passkey-error]");
      signIn.querySelector("[data-passkey-button]").addEventListener("click", function () {
        var csrf = document.body.dataset.csrf;
        showError(error, "");
        post("/app/passkeys/sign-in/options", csrf)
          .then(function (options) { return lib.startAuthentication({ optionsJSON: options }); })
          .then(function (response) { return post("/app/passkeys/sign-in", csrf, { credential: response, next: signIn.dataset.next }, true); })
          .then(function (data) { window.location.assign(data.redirect); })
          .catch(function (e) { showError(error, e.message); });
      });
    }
    var add = document.querySelector("[data-passkey-add]");
    if (add) {
      add.classList.remove("hidden");
      var addError = document.querySelector("[data-passkey-add-error]");
      add.addEventListener("click", function () {
        var csrf = document.body.dataset.csrf;
        showError(addError, "");
        post("/app/passkeys/register/options", csrf)
          .then(function (options) { return lib.startRegistration({ optionsJSON: options }); })
          .then(function (response) { return post("/app/passkeys/register", csrf, { credential: response }, true); })
          .then(function (data) { window.location.assign(data.redirect); })
          .catch(function (e) { showError(addError, e.message); });
      });
    }
  }

  // Web Push: subscribe this browser with the server's VAPID public key and hand the
  // subscription to the server; the service worker shows what arrives.
  function pushSubscribe() {
    var button = document.querySelector("[data-push-subscribe]");
    if (!button || !("serviceWorker" in navigator) || !("PushManager" in window)) return;
    var status = document.querySelector("[data-push-status]");
    function done() {
      button.classList.add("hidden");
      status.textContent = status.dataset.pushOn;
      status.classList.remove("hidden");
    }
    function key(base64url) {
      var padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
      var raw = atob(padded);
      var out = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
      return out;
    }
    navigator.serviceWorker.ready.then(function (registration) {
      return registration.pushManager.getSubscription().then(function (existing) {
        if (existing) { done(); return; }
        button.classList.remove("hidden");
        button.addEventListener("click", function () {
          button.disabled = true;
          registration.pushManager
            .subscribe({ userVisibleOnly: true, applicationServerKey: key(button.dataset.vapidKey) })
            .then(function (subscription) { return post("/app/notifications/push-subscriptions", button.dataset.csrf, subscription.toJSON(), true); })
            .then(done)
            .catch(function (e) { button.disabled = false; status.textContent = e.message; status.classList.remove("hidden"); });
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    cardForm();
    plaidLink();
    passkeys();
    pushSubscribe();
  });
})();
