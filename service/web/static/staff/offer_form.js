// The offer form shows only the inputs that apply to the chosen kind and reward type.
// Hidden inputs keep their values (switching back loses nothing) but are disabled, so
// they are not sent.
(function () {
  "use strict";
  function sync(form) {
    var kind = form.querySelector("[name=kind]");
    var reward = form.querySelector("[name=reward_type]");
    form.querySelectorAll("[data-when-kind]").forEach(function (el) {
      var off = kind && kind.value !== el.dataset.whenKind;
      el.closest(".field").classList.toggle("hidden", off);
      el.disabled = off;
    });
    form.querySelectorAll("[data-when-reward]").forEach(function (el) {
      var off = reward && reward.value !== el.dataset.whenReward;
      el.closest(".field").classList.toggle("hidden", off);
      el.disabled = off;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("offer-form");
    if (!form) return;
    sync(form);
    form.addEventListener("change", function () { sync(form); });
  });
})();
