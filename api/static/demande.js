// The application form works without this script. With it, the space's name is
// proposed from the organisation's name, and whether it is free is said as it is typed.
// The rules are the server's: the script only asks /api/v1/slug-check.
"use strict";
(function () {
  var name = document.getElementById("organization_name");
  var slug = document.getElementById("slug");
  var status = document.getElementById("slug-status");
  if (!name || !slug || !status || !window.fetch) { return; }
  var proposed = slug.value === "" ? "" : null; // null: the person typed their own
  var timer = null;

  function check(params) {
    fetch("/api/v1/slug-check?" + new URLSearchParams(params).toString(), { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (a) {
        if (!a) { status.textContent = ""; return; }
        if (params.organization_name !== undefined) {
          if (slug.value !== proposed) { return; } // typed meanwhile
          slug.value = proposed = a.slug;
        }
        if (!a.slug) { status.textContent = ""; return; }
        status.textContent = a.available
          ? "« " + a.slug + " » est disponible : l'espace sera à l'adresse " + a.address + "."
          : "« " + a.slug + " » : " + a.message;
      })
      .catch(function () { status.textContent = ""; });
  }
  function later(fn) { clearTimeout(timer); timer = setTimeout(fn, 350); }

  name.addEventListener("input", function () {
    if (proposed === null || slug.value !== proposed) { return; }
    later(function () { check({ organization_name: name.value }); });
  });
  slug.addEventListener("input", function () {
    proposed = slug.value === "" ? "" : null;
    later(function () { check({ slug: slug.value }); });
  });
}());
