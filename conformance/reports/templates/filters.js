"use strict";
// Optional filters for index.html. The page reads fine without them: the form stays hidden.
(function () {
  var form = document.getElementById("filters");
  if (!form) { return; }
  form.hidden = false;
  var cases = Array.prototype.slice.call(document.querySelectorAll("article.case"));
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.api"));
  var shown = document.getElementById("shown");

  function apply() {
    var outcomes = {};
    Array.prototype.forEach.call(form.querySelectorAll("input[name=outcome]"), function (b) {
      outcomes[b.value] = b.checked;
    });
    var run = form.elements.run.value;
    var text = form.elements.text.value.toLowerCase().trim();
    var n = 0;
    cases.forEach(function (el) {
      var ok = el.getAttribute("data-outcomes").split(" ").some(function (pair) {
        var i = pair.lastIndexOf(":");
        return (run === "" || run === pair.slice(0, i)) && outcomes[pair.slice(i + 1)] === true;
      });
      if (ok && text) { ok = el.textContent.toLowerCase().indexOf(text) >= 0; }
      el.hidden = !ok;
      if (ok) { n += 1; }
    });
    rows.forEach(function (tr) {
      tr.hidden = text !== "" && tr.textContent.toLowerCase().indexOf(text) < 0;
    });
    shown.textContent = n + " of " + cases.length + " listed cases shown";
  }

  // A link to a case inside the collapsed known-failures section opens that section.
  function reveal() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    for (var d = el; d; d = d.parentElement) {
      if (d.tagName === "DETAILS") { d.open = true; }
    }
    if (el) { el.hidden = false; el.scrollIntoView(); }
  }

  form.addEventListener("input", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  window.addEventListener("hashchange", reveal);
  apply();
  reveal();
}());
