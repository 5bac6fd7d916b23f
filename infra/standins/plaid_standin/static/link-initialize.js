/* Plaid Link as the stand-in serves it in place of
   https://cdn.plaid.com/link/v2/stable/link-initialize.js (tests and the offline demo).
   Plaid.create({token, onSuccess, onExit}) returns a handler whose open() shows an
   institution picker; choosing one finishes the Link session on the stand-in, which
   answers with a public token (or, in update mode, repairs the Item's login). */
(function () {
  "use strict";
  var origin = new URL(document.currentScript.src).origin;
  var INSTITUTIONS = [
    ["ins_109508", "First Platypus Bank"],
    ["ins_109509", "First Gingham Credit Union"],
    ["ins_109511", "Tattersall Federal Credit Union"]
  ];

  function style(el, css) { for (var k in css) el.style[k] = css[k]; return el; }
  function el(tag, text) { var e = document.createElement(tag); if (text) e.textContent = text; return e; }

  function create(config) {
    var dialog = null;
    function close() { if (dialog) { dialog.close(); dialog.remove(); dialog = null; } }
    function finish(institutionId, button, error) {
      button.disabled = true;
      fetch(origin + "/link/standin/complete", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ link_token: config.token, institution_id: institutionId })
      })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (res) {
          if (!res.ok) { error.textContent = res.body.error_message || "Link failed."; button.disabled = false; return; }
          close();
          config.onSuccess && config.onSuccess(res.body.public_token, res.body.metadata);
        })
        .catch(function () { error.textContent = "Could not reach Plaid."; button.disabled = false; });
    }
    function open() {
      dialog = style(el("dialog"), { border: "0", borderRadius: "12px", padding: "20px", maxWidth: "360px", width: "calc(100% - 32px)", font: "inherit" });
      dialog.setAttribute("aria-labelledby", "plaid-standin-title");
      var title = el("h2", "Link your bank");
      title.id = "plaid-standin-title";
      style(title, { margin: "0 0 8px", fontSize: "1.2rem" });
      var note = el("p", "Plaid Link (test institutions). Choose your bank:");
      var list = el("fieldset");
      style(list, { border: "0", padding: "0", margin: "0 0 12px" });
      var legend = el("legend", "Institution");
      style(legend, { fontWeight: "600", marginBottom: "6px" });
      list.appendChild(legend);
      INSTITUTIONS.forEach(function (ins, i) {
        var label = style(el("label"), { display: "flex", gap: "8px", alignItems: "center", padding: "8px 0", minHeight: "44px" });
        var radio = el("input");
        radio.type = "radio";
        radio.name = "plaid-standin-institution";
        radio.value = ins[0];
        radio.checked = i === 0;
        label.appendChild(radio);
        label.appendChild(document.createTextNode(ins[1]));
        list.appendChild(label);
      });
      var error = el("p");
      error.setAttribute("role", "alert");
      style(error, { color: "#b3261e", fontWeight: "600" });
      var row = style(el("div"), { display: "flex", gap: "8px", justifyContent: "flex-end" });
      var cancel = el("button", "Cancel");
      cancel.type = "button";
      cancel.className = "button--secondary";
      var go = el("button", "Continue");
      go.type = "button";
      cancel.addEventListener("click", function () {
        close();
        config.onExit && config.onExit(null, { status: "requires_credentials" });
      });
      go.addEventListener("click", function () {
        var chosen = dialog.querySelector("input[name=plaid-standin-institution]:checked");
        finish(chosen ? chosen.value : "", go, error);
      });
      row.appendChild(cancel);
      row.appendChild(go);
      [title, note, list, error, row].forEach(function (c) { dialog.appendChild(c); });
      document.body.appendChild(dialog);
      dialog.showModal();
      config.onEvent && config.onEvent("OPEN", {});
    }
    config.onLoad && setTimeout(config.onLoad, 0);
    return { open: open, exit: close, destroy: close, submit: function () {} };
  }
  window.Plaid = { create: create };
})();
