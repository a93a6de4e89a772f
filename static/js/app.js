/* unilabel — the little JavaScript the pages need; everything else is HTMX.
 *
 * - toasts: auto-dismiss, close button
 * - HTMX error answers: swapped when the server retargets them (409 conflict panel, 4xx toasts), else a generic toast
 * - keyboard: "/" focuses the page's search box, Ctrl+Z (Cmd+Z) clicks the editor's Undo button
 * - type-ahead (combobox) to add a target class to a source label: arrows, Enter, Escape, Backspace removes a chip
 * - matrix: delegated clicks send one edge edit; arrow keys move between cells; row/column highlight
 */
(function () {
  "use strict";

  // ---------------------------------------------------------------- toasts
  function scheduleToast(toast) {
    if (toast.dataset.toastScheduled) return;
    toast.dataset.toastScheduled = "1";
    var ms = parseInt(toast.dataset.toastTimeout || "5000", 10);
    var timer = setTimeout(function () { toast.remove(); }, ms);
    toast.addEventListener("mouseenter", function () { clearTimeout(timer); });
    toast.addEventListener("focusin", function () { clearTimeout(timer); });
  }
  function showToast(message, kind) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (kind || "error");
    toast.setAttribute("role", kind === "error" ? "alert" : "status");
    toast.dataset.toastTimeout = "7000";
    var body = document.createElement("div");
    body.className = "toast-body";
    body.textContent = message;
    var close = document.createElement("button");
    close.className = "toast-close";
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss notification");
    close.setAttribute("data-toast-close", "");
    close.innerHTML = "&times;";
    toast.append(body, close);
    box.append(toast);
    scheduleToast(toast);
  }
  // The toast band is in the flow under the sticky header: publish its height for sticky panels,
  // and keep it to the newest MAX_TOASTS (quick edits each bring one) so that it stays one row.
  var MAX_TOASTS = 3;
  function trackToastBand() {
    var box = document.getElementById("toasts");
    if (!box) return;
    new MutationObserver(function () {
      var all = box.querySelectorAll(".toast");
      for (var i = 0; i < all.length - MAX_TOASTS; i++) all[i].remove();
    }).observe(box, { childList: true });
    if (!window.ResizeObserver) return;
    new ResizeObserver(function () {
      document.documentElement.style.setProperty("--toasts-h", box.offsetHeight + "px");
    }).observe(box);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", trackToastBand);
  else trackToastBand();
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-toast-close]");
    if (btn) btn.closest(".toast").remove();
  });

  // ---------------------------------------------------------------- HTMX glue
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.status < 400) return;
    if (xhr.getResponseHeader("HX-Retarget") || xhr.getResponseHeader("HX-Reswap")) {
      e.detail.shouldSwap = true; // the server rendered a fragment meant for this error (toast, conflict panel)
      e.detail.isError = false;
    } else if ((xhr.getResponseHeader("HX-Trigger") || "").indexOf(TOAST_EVENT) !== -1) {
      // the generic error handler (app.web.htmx.render_toast) names the toast in HX-Trigger: shown below
    } else {
      showToast("The request failed (" + xhr.status + " " + (xhr.statusText || "error") + ").", "error");
    }
  });
  var TOAST_EVENT = "unilabel:toast";
  document.addEventListener(TOAST_EVENT, function (e) {
    var d = e.detail || {};
    showToast(d.message || "Done.", d.level || "info");
  });
  document.addEventListener("htmx:sendError", function () {
    showToast("The server could not be reached. Your last change was not saved.", "error");
  });
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("#toasts .toast").forEach(scheduleToast);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#toasts .toast").forEach(scheduleToast);
    initMatrix();
  });
  document.addEventListener("htmx:load", function (e) {
    if (e.detail.elt && e.detail.elt.querySelector && e.detail.elt.querySelector(".mapping-matrix")) initMatrix();
  });

  // ---------------------------------------------------------------- global shortcuts
  function isTyping(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented) return;
    if (e.key === "/" && !isTyping(document.activeElement) && !e.ctrlKey && !e.metaKey && !e.altKey) {
      var search = document.querySelector("[data-search]");
      if (search) { e.preventDefault(); search.focus(); search.select(); }
      return;
    }
    var undoKey = e.key === "z" && (e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey;
    if (undoKey && !isTyping(document.activeElement)) {
      var undo = document.getElementById("undo-button");
      if (undo && !undo.disabled) { e.preventDefault(); undo.click(); }
    }
  });

  // ---------------------------------------------------------------- edge edits
  // Every edit carries the base version and the view from #editor-state (see mappings/_state.html).
  function sendEdge(source, target, op, trigger) {
    var editor = document.getElementById("mapping-editor");
    if (!editor || !window.htmx) return Promise.resolve();
    return htmx.ajax("POST", editor.dataset.edgesUrl, {
      source: trigger || editor,
      swap: "none",
      values: { source: source, target: String(target), op: op },
    });
  }

  // ---------------------------------------------------------------- type-ahead
  var targetsCache = null;
  function targetClasses() {
    if (targetsCache) return targetsCache;
    var node = document.getElementById("target-classes");
    targetsCache = node ? JSON.parse(node.textContent) : [];
    return targetsCache;
  }
  function listFor(input) { return document.getElementById(input.getAttribute("aria-controls")); }
  function mappedTargets(input) {
    var row = input.closest("[data-source]");
    var ids = {};
    if (row) row.querySelectorAll(".chip[data-target-id]").forEach(function (c) { ids[c.dataset.targetId] = true; });
    return ids;
  }
  function renderOptions(input) {
    var list = listFor(input);
    var q = input.value.trim().toLowerCase();
    var mapped = mappedTargets(input);
    var items = targetClasses().filter(function (t) {
      return !q || t.name.toLowerCase().indexOf(q) !== -1 || String(t.id) === q;
    });
    // exact/prefix matches first, so Enter picks the obvious one
    items.sort(function (a, b) {
      var ap = a.name.toLowerCase().indexOf(q) === 0 ? 0 : 1;
      var bp = b.name.toLowerCase().indexOf(q) === 0 ? 0 : 1;
      return ap - bp || a.order - b.order;
    });
    list.innerHTML = "";
    items.slice(0, 80).forEach(function (t, i) {
      var li = document.createElement("li");
      li.id = list.id + "-opt-" + i;
      li.setAttribute("role", "option");
      li.dataset.targetId = t.id;
      li.setAttribute("aria-selected", i === 0 ? "true" : "false");
      if (mapped[t.id]) { li.classList.add("is-mapped"); li.title = "already mapped"; }
      var sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = t.color || "transparent";
      sw.setAttribute("aria-hidden", "true");
      var name = document.createElement("span");
      name.textContent = t.name;
      var tid = document.createElement("span");
      tid.className = "tid";
      tid.textContent = t.id === 255 ? "void" : String(t.id);
      li.append(sw, name, tid);
      list.append(li);
    });
    if (!items.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "No target class matches";
      list.append(empty);
    }
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    setActive(input, list.querySelector("[role=option]"));
  }
  function setActive(input, li) {
    var list = listFor(input);
    list.querySelectorAll("[role=option]").forEach(function (o) { o.setAttribute("aria-selected", "false"); });
    if (li) {
      li.setAttribute("aria-selected", "true");
      input.setAttribute("aria-activedescendant", li.id);
      li.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }
  function closeList(input) {
    var list = listFor(input);
    if (list) list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }
  function choose(input, li) {
    if (!li || !li.dataset.targetId) return;
    var row = input.closest("[data-source]");
    var id = li.dataset.targetId;
    closeList(input);
    input.value = "";
    if (mappedTargets(input)[id]) { showToast("Already mapped to that class.", "info"); return; }
    pendingRefocus = row.id;
    sendEdge(row.dataset.source, id, "add", input);
  }
  document.addEventListener("input", function (e) {
    if (e.target.matches("[data-typeahead]")) renderOptions(e.target);
  });
  document.addEventListener("focusin", function (e) {
    if (!e.target.matches("[data-typeahead]")) return;
    if (e.target.dataset.quiet) { delete e.target.dataset.quiet; return; } // focus given back after an edit
    renderOptions(e.target);
  });
  document.addEventListener("focusout", function (e) {
    var input = e.target;
    if (!input.matches || !input.matches("[data-typeahead]")) return;
    setTimeout(function () { if (document.activeElement !== input) closeList(input); }, 150);
  });
  document.addEventListener("mousedown", function (e) {
    var li = e.target.closest(".typeahead-list [role=option]");
    if (!li) return;
    e.preventDefault(); // keep focus in the input
    var input = document.querySelector("[aria-controls='" + li.parentElement.id + "']");
    choose(input, li);
  });
  document.addEventListener("keydown", function (e) {
    var input = e.target;
    if (!input.matches || !input.matches("[data-typeahead]")) return;
    var list = listFor(input);
    var options = Array.prototype.slice.call(list.querySelectorAll("[role=option]"));
    var current = list.querySelector("[aria-selected=true]");
    var idx = options.indexOf(current);
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (list.hidden) { renderOptions(input); return; }
      var next = e.key === "ArrowDown" ? Math.min(idx + 1, options.length - 1) : Math.max(idx - 1, 0);
      setActive(input, options[next]);
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (!list.hidden) choose(input, current);
    } else if (e.key === "Escape") {
      if (!list.hidden) { e.preventDefault(); closeList(input); }
    } else if (e.key === "Backspace" && input.value === "") {
      // Backspace on an empty type-ahead removes the row's last chip
      var row = input.closest("[data-source]");
      var chips = row.querySelectorAll(".chip [data-remove]");
      if (chips.length) {
        e.preventDefault();
        pendingRefocus = row.id;
        chips[chips.length - 1].click();
      }
    }
  });
  // After a row is swapped (OOB), put the focus back into its type-ahead so keyboard entry can go on.
  var pendingRefocus = null;
  document.addEventListener("htmx:afterSettle", function () {
    if (!pendingRefocus) return;
    var row = document.getElementById(pendingRefocus);
    pendingRefocus = null;
    var input = row && row.querySelector("[data-typeahead]");
    if (input) { input.dataset.quiet = "1"; input.focus(); }
  });

  // ---------------------------------------------------------------- matrix
  function initMatrix() {
    var table = document.querySelector(".mapping-matrix");
    if (!table || table.dataset.ready) return;
    table.dataset.ready = "1";
    var cols = table.querySelectorAll("colgroup col");
    var lastRow = null, lastCol = null, lastHead = null;
    function highlight(cell) {
      if (lastRow) lastRow.classList.remove("is-hl");
      if (lastCol) lastCol.classList.remove("is-hl");
      if (lastHead) lastHead.classList.remove("is-hl");
      lastRow = lastCol = lastHead = null;
      if (!cell) return;
      var td = cell.closest("td");
      if (!td) return;
      lastRow = td.parentElement;
      lastRow.classList.add("is-hl");
      var i = td.cellIndex;
      lastCol = cols[i] || null;
      if (lastCol) lastCol.classList.add("is-hl");
      lastHead = table.tHead.rows[0].cells[i] || null;
      if (lastHead) lastHead.classList.add("is-hl");
    }
    var heads = table.tHead.rows[0].cells;
    // buttons are not tab stops except the current one (roving tabindex: arrows move inside the grid)
    table.querySelectorAll("tbody td > button:not([tabindex])").forEach(function (b) { b.tabIndex = -1; });
    table.addEventListener("mouseover", function (e) { highlight(e.target.closest("tbody td")); });
    table.addEventListener("mouseleave", function () { highlight(null); });
    table.addEventListener("focusin", function (e) { highlight(e.target.closest("tbody td")); });
    table.addEventListener("click", function (e) {
      var btn = e.target.closest("tbody td > button");
      if (!btn || btn.disabled) return;
      var td = btn.parentElement, tr = td.parentElement;
      var op = btn.getAttribute("aria-pressed") === "true" ? "remove" : "add";
      moveFocus(btn);
      lastCellId = td.id;
      sendEdge(tr.dataset.source, heads[td.cellIndex].dataset.t, op, btn);
    });
    table.addEventListener("keydown", function (e) {
      var btn = e.target.closest("tbody td > button");
      if (!btn) return;
      var td = btn.closest("td"), tr = td.parentElement;
      var r = tr.sectionRowIndex, c = td.cellIndex;
      var rows = tr.parentElement.rows;
      var target = null;
      if (e.key === "ArrowRight") target = tr.cells[c + 1];
      else if (e.key === "ArrowLeft") target = c > 1 ? tr.cells[c - 1] : null;
      else if (e.key === "ArrowDown") target = rows[r + 1] && rows[r + 1].cells[c];
      else if (e.key === "ArrowUp") target = rows[r - 1] && rows[r - 1].cells[c];
      else if (e.key === "Home") target = tr.cells[1];
      else if (e.key === "End") target = tr.cells[tr.cells.length - 1];
      else return;
      e.preventDefault();
      var next = target && target.querySelector("button");
      if (next) { moveFocus(next); next.focus(); }
    });
    function moveFocus(btn) {
      var old = table.querySelector("tbody td > button[tabindex='0']");
      if (old && old !== btn) old.setAttribute("tabindex", "-1");
      btn.setAttribute("tabindex", "0");
    }
  }
  // the clicked cell is replaced by the answer: give the new button the roving focus back
  var lastCellId = null;
  document.addEventListener("htmx:afterSettle", function () {
    if (!lastCellId) return;
    var td = document.getElementById(lastCellId);
    lastCellId = null;
    var btn = td && td.querySelector("button");
    if (!btn) return;
    var old = document.querySelector(".mapping-matrix tbody td > button[tabindex='0']");
    if (old && old !== btn) old.tabIndex = -1;
    btn.tabIndex = 0;
    if (document.activeElement === document.body || !document.activeElement) btn.focus();
  });

  // ---------------------------------------------------------------- small helpers
  // matrix: hide source rows that do not match the "find" box (client-side; the grid is already loaded)
  document.addEventListener("input", function (e) {
    if (!e.target.matches("[data-matrix-filter]")) return;
    var q = e.target.value.trim().toLowerCase();
    document.querySelectorAll(".mapping-matrix tbody tr").forEach(function (tr) {
      tr.hidden = !!q && tr.dataset.source.toLowerCase().indexOf(q) === -1;
    });
  });
  // "Keep the current version" in the conflict panel, and other dismiss buttons
  document.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-dismiss]");
    if (!btn) return;
    var box = document.querySelector(btn.dataset.dismiss);
    if (box) box.innerHTML = "";
  });
  // validation panel links: scroll the row into view and flash it
  document.addEventListener("click", function (e) {
    var a = e.target.closest("a[data-jump]");
    if (!a) return;
    var row = document.querySelector(a.getAttribute("href"));
    if (!row) return;
    e.preventDefault();
    if (row.hidden) row.hidden = false;
    row.scrollIntoView({ block: "center" });
    row.classList.add("is-target");
    setTimeout(function () { row.classList.remove("is-target"); }, 1600);
    var focusable = row.querySelector("[data-typeahead], button");
    if (focusable) focusable.focus({ preventScroll: true });
  });

  window.unilabel = { showToast: showToast, sendEdge: sendEdge };
})();

// ---------------------------------------------------------------- label overlays: opacity slider
// <input type="range" data-overlay-opacity="SCOPE_ID"> sets --overlay-opacity on #SCOPE_ID (every overlay inside).
(function () {
  "use strict";
  document.addEventListener("input", function (e) {
    var slider = e.target.closest && e.target.closest("input[data-overlay-opacity]");
    if (!slider) return;
    var scope = document.getElementById(slider.dataset.overlayOpacity);
    if (scope) scope.style.setProperty("--overlay-opacity", String(slider.value / 100));
    slider.setAttribute("aria-valuetext", slider.value + " %");
    var out = slider.parentElement.querySelector("output");
    if (out) out.textContent = slider.value + " %";
  });
})();
