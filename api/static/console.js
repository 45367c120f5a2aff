// Refreshes the part of a page marked data-poll from its address every few seconds,
// while the page is visible: the progress of a fleet upgrade. Without JavaScript the
// page's <meta http-equiv="refresh"> reloads it instead.
(function () {
  "use strict";
  var every = 3000;
  document.querySelectorAll("[data-poll]").forEach(function (el) {
    var url = el.getAttribute("data-poll");
    function refresh() {
      if (document.hidden) { return setTimeout(refresh, every); }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) { el.innerHTML = html; })
        .catch(function () {})
        .finally(function () { setTimeout(refresh, every); });
    }
    setTimeout(refresh, every);
  });
})();
