// The tracking page: shows times in the viewer's zone, and follows the order's live
// stream, swapping in the freshly rendered page body on every change (no reload).
(function () {
  "use strict";
  var main = document.getElementById("track");
  if (!main) return;
  function localTimes() {
    var times = main.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var d = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(d)) times[i].textContent = d.toLocaleString(document.documentElement.lang);
    }
  }
  localTimes();
  if (!window.EventSource || !main.dataset.stream) return;
  var stream = new EventSource(main.dataset.stream);
  function refresh() {
    fetch(main.dataset.fragment, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        main.innerHTML = html;
        main.dataset.updated = String(Date.now());
        localTimes();
      });
  }
  ["order.status_changed", "shipment.status_changed", "shipment.delivered",
   "shipment.exception"].forEach(function (type) {
    stream.addEventListener(type, refresh);
  });
})();
