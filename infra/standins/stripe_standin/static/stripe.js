/* Stripe.js as the stand-in serves it in place of https://js.stripe.com/v3/ (tests and the
   offline demo). The subset a card form needs: Stripe(pk).elements().create("card"),
   element.mount / on("change") / focus / clear, and stripe.confirmCardSetup(clientSecret,
   {payment_method: {card}}). As on Stripe, the number typed never reaches the page's own
   server; here it does not even leave the browser: a Stripe test card number is turned into
   its test token (tok_visa, ...) and only the token is sent to the stand-in. */
(function () {
  "use strict";
  var origin = new URL(document.currentScript.src).origin;
  var TEST_CARDS = {
    "4242424242424242": "tok_visa",
    "4000056655665556": "tok_visa_debit",
    "5555555555554444": "tok_mastercard",
    "5200828282828210": "tok_mastercard_debit",
    "5105105105105100": "tok_mastercard_prepaid",
    "371449635398431": "tok_amex",
    "6011111111111117": "tok_discover",
    "3056930009020004": "tok_diners",
    "3566002020360505": "tok_jcb",
    "6200000000000005": "tok_unionpay",
    "4000000000000002": "tok_chargeDeclined"
  };

  function luhn(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var d = +digits[digits.length - 1 - i];
      if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return digits.length >= 12 && sum % 10 === 0;
  }

  function style(el, css) { for (var k in css) el.style[k] = css[k]; return el; }

  function CardElement() {
    this.handlers = {};
    this.root = null;
  }
  CardElement.prototype.mount = function (target) {
    var host = typeof target === "string" ? document.querySelector(target) : target;
    var self = this;
    var uid = "stripe-standin-" + Math.random().toString(36).slice(2, 8);
    function input(key, labelText, autocomplete, placeholder, width) {
      var wrap = style(document.createElement("div"), { display: "flex", flexDirection: "column", gap: "4px", flex: width });
      var label = document.createElement("label");
      label.htmlFor = uid + "-" + key;
      label.textContent = labelText;
      style(label, { fontSize: "0.875rem", fontWeight: "600" });
      var el = document.createElement("input");
      el.id = uid + "-" + key;
      el.autocomplete = autocomplete;
      el.inputMode = "numeric";
      el.placeholder = placeholder;
      el.setAttribute("data-stripe", key);
      style(el, { font: "inherit", padding: "10px", border: "1px solid #8694a1", borderRadius: "6px", minHeight: "44px", width: "100%", boxSizing: "border-box" });
      el.addEventListener("input", function () { self._changed(); });
      wrap.appendChild(label);
      wrap.appendChild(el);
      return { wrap: wrap, el: el };
    }
    var number = input("number", "Card number", "cc-number", "1234 1234 1234 1234", "1 1 100%");
    var expiry = input("expiry", "Expiry (MM/YY)", "cc-exp", "MM / YY", "1 1 45%");
    var cvc = input("cvc", "CVC", "cc-csc", "123", "1 1 35%");
    var root = style(document.createElement("div"), { display: "flex", flexWrap: "wrap", gap: "10px" });
    root.appendChild(number.wrap);
    root.appendChild(expiry.wrap);
    root.appendChild(cvc.wrap);
    host.appendChild(root);
    this.root = root;
    this.inputs = { number: number.el, expiry: expiry.el, cvc: cvc.el };
  };
  CardElement.prototype.on = function (name, fn) { (this.handlers[name] = this.handlers[name] || []).push(fn); };
  CardElement.prototype.focus = function () { this.inputs && this.inputs.number.focus(); };
  CardElement.prototype.clear = function () { for (var k in this.inputs) this.inputs[k].value = ""; };
  CardElement.prototype._read = function () {
    var digits = this.inputs.number.value.replace(/[\s-]/g, "");
    var exp = this.inputs.expiry.value.replace(/\s/g, "").split("/");
    var cvc = this.inputs.cvc.value.trim();
    if (!/^\d+$/.test(digits) || !luhn(digits)) return { error: { type: "validation_error", code: "invalid_number", message: "Your card number is invalid." } };
    var month = +exp[0], year = +(exp[1] || "");
    if (year < 100) year += 2000;
    var now = new Date();
    if (!(month >= 1 && month <= 12) || year < now.getFullYear() || (year === now.getFullYear() && month < now.getMonth() + 1))
      return { error: { type: "validation_error", code: "invalid_expiry_year", message: "Your card's expiration date is incomplete or in the past." } };
    if (!/^\d{3,4}$/.test(cvc)) return { error: { type: "validation_error", code: "incomplete_cvc", message: "Your card's security code is incomplete." } };
    var token = TEST_CARDS[digits];
    if (!token) return { error: { type: "validation_error", code: "card_declined", message: "Use a Stripe test card, such as 4242 4242 4242 4242." } };
    return { token: token };
  };
  CardElement.prototype._changed = function () {
    var read = this._read();
    var event = { elementType: "card", complete: !read.error, empty: !this.inputs.number.value, error: undefined };
    (this.handlers.change || []).forEach(function (fn) { fn(event); });
  };

  function call(key, method, path, params) {
    var body = new URLSearchParams(params || {}).toString();
    return fetch(origin + path + (method === "GET" ? "?" + body : ""), {
      method: method,
      headers: { "Authorization": "Bearer " + key, "Content-Type": "application/x-www-form-urlencoded" },
      body: method === "GET" ? undefined : body
    }).then(function (r) { return r.json(); });
  }

  function StandinStripe(key) {
    if (!(this instanceof StandinStripe)) return new StandinStripe(key);
    this.key = key;
  }
  StandinStripe.prototype.elements = function () {
    return { create: function (type) { if (type !== "card") throw new Error("only the card element"); return new CardElement(); } };
  };
  StandinStripe.prototype.confirmCardSetup = function (clientSecret, data) {
    var key = this.key;
    var card = data && data.payment_method && data.payment_method.card;
    var read = card ? card._read() : { error: { type: "validation_error", message: "No card element." } };
    if (read.error) return Promise.resolve({ error: read.error });
    var setupIntentId = String(clientSecret).split("_secret_")[0];
    return call(key, "POST", "/v1/payment_methods", { "type": "card", "card[token]": read.token })
      .then(function (pm) {
        if (pm.error) return { error: pm.error };
        return call(key, "POST", "/v1/setup_intents/" + setupIntentId + "/confirm", { client_secret: clientSecret, payment_method: pm.id })
          .then(function (seti) { return seti.error ? { error: seti.error } : { setupIntent: seti }; });
      })
      .catch(function () { return { error: { type: "api_connection_error", message: "Could not reach Stripe." } }; });
  };
  window.Stripe = StandinStripe;
})();
