"use strict";
// Optional filters for index.html. The page reads fine without them: the form stays hidden.
(function () {
  var form = document.getElementById("filters");
  if (!form) { return; }
  form.hidden = false;
  function all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }
  var lines = all("table.rows tr.g");      // one line per group of rows with identical evidence
  var fixes = all("li.cause");
  var apis = all("tr.api");
  var shown = document.getElementById("shown");
  var total = lines.reduce(function (n, tr) { return n + (+tr.getAttribute("data-n")); }, 0);
  var opened = [];          // evidence the text filter opened: closed again when the text changes

  function checked(name) {
    var out = {};
    Array.prototype.forEach.call(form.querySelectorAll("input[name=" + name + "]"), function (b) {
      out[b.value] = b.checked;
    });
    return out;
  }

  function has(el, text) { return !text || el.textContent.toLowerCase().indexOf(text) >= 0; }

  function apply() {
    var outcomes = checked("outcome");
    var known = checked("known");
    var run = form.elements.run ? form.elements.run.value : "";
    var text = form.elements.text.value.toLowerCase().trim();
    var n = 0;
    var matching = [];
    lines.forEach(function (tr) {
      var p = tr.getAttribute("data-o").split(":");     // "<run>:<outcome>:<known|new>"
      // Row ids are printed as "name[" once, then each row's parameters: match against the full ids too.
      var codes = Array.prototype.slice.call(tr.querySelectorAll("td:first-child code[id]"));
      var idHits = codes.filter(function (c) { return text !== "" && c.id.toLowerCase().indexOf(text) >= 0; });
      var ok = (run === "" || run === p[0]) && outcomes[p[1]] === true && known[p[2]] === true
        && (has(tr, text) || idHits.length > 0);
      tr.hidden = !ok;
      codes.forEach(function (c) { c.classList.toggle("hit", ok && idHits.indexOf(c) >= 0); });
      if (ok) {
        // A text that matches only some of a line's row ids counts (and marks) those rows alone.
        var rest = Array.prototype.slice.call(tr.cells, 1).map(function (td) { return td.textContent; }).join(" ");
        var cmd = tr.querySelector("pre.cmd");      // names one row's id: not a match for the whole line
        if (cmd) { rest = rest.replace(cmd.textContent, ""); }
        var hits = tr.querySelectorAll("code.hit").length;
        n += (text && hits && rest.toLowerCase().indexOf(text) < 0) ? hits : +tr.getAttribute("data-n");
        matching.push(tr);
      }
    });
    opened.forEach(function (d) { d.open = false; });
    opened = [];
    // Typing opens the evidence of what matches, when that is a handful of lines (not hundreds).
    if (text && matching.length <= 12) {
      matching.forEach(function (tr) {
        var d = tr.querySelector("details");
        if (d && !d.open) { d.open = true; opened.push(d); }
      });
    }
    fixes.forEach(function (li) { li.hidden = !has(li, text); });
    apis.forEach(function (tr) { tr.hidden = !has(tr, text); });
    shown.textContent = n + " of " + total + " rows shown (" + matching.length + " of " + lines.length + " lines)";
  }

  // A link to a row opens its evidence and shows it, whatever the filters say.
  function reveal() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    for (var d = el; d; d = d.parentElement) {
      d.hidden = false;
      if (d.tagName === "TR" && d.classList.contains("g")) {
        var ev = d.querySelector("details");
        if (ev) { ev.open = true; }
      }
    }
    if (el) { el.scrollIntoView(); }
  }

  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  window.addEventListener("hashchange", reveal);
  apply();
  reveal();
}());
