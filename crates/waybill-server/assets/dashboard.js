// The dashboard refreshes its numbers every five seconds, without reloading the page.
(function () {
  "use strict";
  var main = document.getElementById("dashboard");
  if (!main) return;
  setInterval(function () {
    fetch("/dashboard?fragment=1", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null) main.innerHTML = html;
      });
  }, 5000);
})();
