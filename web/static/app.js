// coffer web keeper: small conveniences only. Every page works without it.
"use strict";
(function () {
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) {}

  // The login form tells the server this browser's time zone, so dates
  // are shown in it.
  document.querySelectorAll("input[data-browser-tz]").forEach(function (el) {
    el.value = zone;
  });

  // "Use this device's zone" fills the time zone field.
  document.querySelectorAll("button[data-fill-tz]").forEach(function (b) {
    if (!zone) return;
    b.hidden = false;
    b.addEventListener("click", function () {
      var input = document.getElementById(b.getAttribute("data-fill-tz"));
      if (input) { input.value = zone; input.focus(); }
    });
  });

  // A form sent once shows that it is on its way; a second click does not
  // send it again (the server would not apply a payment twice anyway).
  document.querySelectorAll("form[method=post]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (f.dataset.sent) { ev.preventDefault(); return; }
      f.dataset.sent = "1";
      setTimeout(function () { delete f.dataset.sent; }, 5000);
    });
  });
})();
