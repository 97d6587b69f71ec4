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

  // The filters live in the URL hash as "#filters:outcome=FAIL,MISSING&known=new&run=r1&text=..." (only what
  // differs from showing everything), so a reload or a shared link shows the same rows. A link to a row
  // or section replaces it, as any link does; the form keeps its values.
  var PREFIX = "filters:";
  function boxes(name) { return Array.prototype.slice.call(form.querySelectorAll("input[name=" + name + "]")); }

  function encoded() {
    var parts = [];
    ["outcome", "known"].forEach(function (name) {
      var all = boxes(name);
      var on = all.filter(function (b) { return b.checked; });
      if (on.length !== all.length) {
        parts.push(name + "=" + on.map(function (b) { return encodeURIComponent(b.value); }).join(","));
      }
    });
    if (form.elements.run && form.elements.run.value) { parts.push("run=" + encodeURIComponent(form.elements.run.value)); }
    if (form.elements.text.value.trim()) { parts.push("text=" + encodeURIComponent(form.elements.text.value)); }
    return parts.length ? PREFIX + parts.join("&") : "";
  }

  function fromHash() {
    var hash = window.location.hash.slice(1);
    if (hash.indexOf(PREFIX) !== 0) { return false; }
    var given = {};
    hash.slice(PREFIX.length).split("&").forEach(function (kv) {
      var at = kv.indexOf("=");
      if (at > 0) { given[kv.slice(0, at)] = kv.slice(at + 1); }
    });
    ["outcome", "known"].forEach(function (name) {
      var on = name in given ? given[name].split(",").map(decodeURIComponent) : null;
      boxes(name).forEach(function (b) { b.checked = on === null || on.indexOf(b.value) >= 0; });
    });
    if (form.elements.run) { form.elements.run.value = given.run ? decodeURIComponent(given.run) : ""; }
    form.elements.text.value = given.text ? decodeURIComponent(given.text) : "";
    return true;
  }

  function remember() {
    var state = encoded();
    var current = window.location.hash.slice(1);
    if (state === current || (!state && current.indexOf(PREFIX) !== 0)) { return; }  // an anchor stays
    var url = window.location.href.split("#")[0] + (state ? "#" + state : "");
    try { window.history.replaceState(null, "", url); } catch (e) { window.location.replace(url); }
  }

  // The sticky bars' heights, for scroll-margin-top (a link lands below them, not under them).
  var nav = document.querySelector("nav");
  function measure() {
    var root = document.documentElement.style;
    var navHeight = nav ? nav.getBoundingClientRect().height : 0;
    form.style.top = navHeight + "px";
    var sticky = window.getComputedStyle(form).position === "sticky";
    root.setProperty("--nav", Math.ceil(navHeight + 8) + "px");
    root.setProperty("--bars", Math.ceil(navHeight + (sticky ? form.getBoundingClientRect().height : 0) + 16) + "px");
  }

  function changed() { apply(); remember(); measure(); }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  window.addEventListener("hashchange", function () {
    if (fromHash()) { apply(); measure(); } else { reveal(); }
  });
  window.addEventListener("resize", measure);
  var filtered = fromHash();
  apply();
  measure();
  if (!filtered) { reveal(); }
}());
