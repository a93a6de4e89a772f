/* unilabel — the pseudo-label gallery's large view (jobs/_viewer.html on the review page).
 *
 * - a card's name button, or a click on any of its layers, opens the modal <dialog> on that image
 * - ← / → previous / next image; past the end of the page the next (previous) page is loaded through
 *   HTMX and the viewer goes on with its first (last) image; the URL follows the page
 * - 1–4 show or hide the image, ground truth, teacher and pseudo-label layers (aria-pressed buttons);
 *   o cycles the label opacity; Escape closes (native dialog) and the focus returns to the card
 * - every key has a button, and the layer choice and opacity stay the same from image to image
 * - a / r / f accept, reject or flag the image (editors; the buttons do the same) with the note typed, if
 *   any (Enter in the note saves it with the current decision). The decision is PUT to the JSON API
 *   (compare-and-set on the card's data-review-version; a 409 names the decision stored meanwhile) and the
 *   card's badge follows. Keys typed into the note field stay there.
 */
(function () {
  "use strict";

  var LAYERS = ["image", "gt", "teacher", "pseudo"];
  var NAMES = { image: "Image", gt: "Ground truth", teacher: "Teacher", pseudo: "Pseudo-label" };
  var OPACITIES = [0.6, 0.85, 1, 0.35];
  var shown = { image: true, gt: false, teacher: false, pseudo: true };
  var opacity = 0; // index into OPACITIES
  var current = null; // the card (article[data-viewer-item]) on view
  var loading = false;

  function dialog() { return document.getElementById("gallery-viewer"); }
  function items() {
    return Array.prototype.slice.call(document.querySelectorAll("#gallery-results [data-viewer-item]"));
  }
  function q(sel) { return dialog().querySelector(sel); }
  function announce(text) {
    var box = q("[data-viewer-status]");
    box.textContent = "";
    setTimeout(function () { box.textContent = text; }, 30);
  }

  function layerUrl(card, layer) { return card.dataset[layer] || ""; }

  function paintLayers() {
    LAYERS.forEach(function (layer) {
      var img = q("img[data-layer='" + layer + "']");
      var btn = q("[data-toggle-layer='" + layer + "']");
      var available = !!(current && layerUrl(current, layer));
      btn.disabled = !available;
      btn.setAttribute("aria-pressed", available && shown[layer] ? "true" : "false");
      btn.title = available ? "" : NAMES[layer] + ": not recorded for this image";
      img.style.visibility = available && shown[layer] ? "visible" : "hidden";
    });
    var value = Math.round(OPACITIES[opacity] * 100) + " %";
    q("[data-viewer-stack]").style.setProperty("--viewer-opacity", String(OPACITIES[opacity]));
    q("[data-opacity-value]").textContent = value;
  }

  function show(card) {
    current = card;
    var results = document.getElementById("gallery-results");
    LAYERS.forEach(function (layer) {
      var img = q("img[data-layer='" + layer + "']");
      var url = layerUrl(card, layer);
      if (url) img.src = url; else img.removeAttribute("src");
      img.alt = layer === "image" ? card.dataset.name : NAMES[layer] + " of " + card.dataset.name;
    });
    q("[data-viewer-name]").textContent = card.dataset.name;
    var total = results ? results.dataset.total : "?";
    q("[data-viewer-pos]").textContent = "Image " + card.dataset.number + " of " + total;
    q("[data-viewer-metrics]").textContent = card.dataset.metrics || "";
    var list = items(), i = list.indexOf(card);
    var pages = results ? results.dataset : { page: "1", pages: "1" };
    q("[data-viewer-prev]").disabled = i <= 0 && pages.page === "1";
    q("[data-viewer-next]").disabled = i >= list.length - 1 && pages.page === pages.pages;
    paintLayers();
    paintReview();
  }

  // -------------------------------------------------------------- review decisions
  var DECIDED = { accepted: "Accepted", rejected: "Rejected", flagged: "Flagged" };
  var saving = false;

  function reviewError(text) {
    var box = q("[data-viewer-review-error]");
    if (!box) return;
    box.textContent = text || "";
    box.hidden = !text;
  }

  function paintReview() {
    var label = q("[data-viewer-decision]");
    if (!current || !label) return;
    var state = current.dataset.review || "unreviewed";
    var text = DECIDED[state] || (current.hasAttribute("data-review-stale") ? "Not reviewed (the label changed since the last decision)" : "Not reviewed");
    label.textContent = text;
    label.className = "viewer-decision is-" + state;
    dialog().querySelectorAll("[data-decide]").forEach(function (btn) {
      btn.setAttribute("aria-pressed", btn.dataset.decide === state ? "true" : "false");
    });
    var note = q("[data-viewer-note]");
    if (note) note.value = current.dataset.reviewNote || "";
    reviewError("");
  }

  function paintBadge(card) {
    var badge = card.querySelector("[data-review-badge]");
    if (!badge) return;
    var state = card.dataset.review;
    badge.className = "badge review-badge is-" + state;
    badge.textContent = state;
    badge.hidden = state === "unreviewed";
    if (card.dataset.reviewNote) badge.title = card.dataset.reviewNote; else badge.removeAttribute("title");
  }

  // the page's counts (header links, the Review filter's options) follow a decision made here
  function recount(from, to) {
    if (from === to) return;
    [[from, -1], [to, 1]].forEach(function (change) {
      var link = document.querySelector("[data-review-count='" + change[0] + "'] strong");
      if (link) link.textContent = String(Number(link.textContent.replace(/\D/g, "")) + change[1]);
      var option = document.querySelector("#gf-review option[value='" + change[0] + "']");
      if (option) option.textContent = option.textContent.replace(/\((\d+)\)/, function (m, n) { return "(" + (Number(n) + change[1]) + ")"; });
    });
  }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
    catch (err) { return ""; }
  }

  function decide(decision) {
    var card = current;
    if (!card || saving || !card.dataset.reviewUrl || !q("[data-decide]")) return;
    var note = q("[data-viewer-note]");
    var body = { decision: decision, base_version: Number(card.dataset.reviewVersion || "0"), note: note ? note.value : null };
    saving = true;
    fetch(card.dataset.reviewUrl, {
      method: "PUT", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body),
    }).then(function (resp) {
      return resp.json().then(function (data) { return { ok: resp.ok, status: resp.status, data: data }; });
    }).then(function (answer) {
      saving = false;
      var data = answer.data || {};
      if (answer.ok) {
        recount(card.dataset.review || "unreviewed", data.state);
        card.dataset.review = data.state;
        card.dataset.reviewVersion = String(data.version);
        card.dataset.reviewNote = data.note || "";
        card.removeAttribute("data-review-stale");
        paintBadge(card);
        if (card === current) paintReview();
        announce(DECIDED[data.state] + ": " + card.dataset.name);
        return;
      }
      var error = data.error || {};
      if (answer.status === 409 && error.details) card.dataset.reviewVersion = String(error.details.version || 0);
      reviewError(error.message || ("Not saved (" + answer.status + ")."));
    }, function () {
      saving = false;
      reviewError("The server could not be reached; the decision was not saved.");
    });
  }

  function open(card) {
    var d = dialog();
    if (!d || !card) return;
    show(card);
    if (!d.open) d.showModal();
    q("[data-viewer-close]").focus();
  }

  function loadPage(rel, then) {
    var link = document.querySelector("#gallery-results a[rel='" + rel + "']");
    if (!link || !window.htmx || loading) return false;
    loading = true;
    announce("Loading the " + (rel === "next" ? "next" : "previous") + " page…");
    htmx.ajax("GET", link.getAttribute("hx-get"), {
      source: link, target: "#gallery-results", swap: "outerHTML", headers: { "HX-Target": "gallery-results" },
    }).then(
      function () {
        loading = false;
        var list = items();
        if (list.length) show(rel === "next" ? list[0] : list[list.length - 1]);
        if (then) then();
      },
      function () { loading = false; }
    );
    return true;
  }

  function step(delta) {
    if (!current || loading) return;
    var list = items(), i = list.indexOf(current);
    var next = list[i + delta];
    if (next) { show(next); announce("Image " + next.dataset.number + ": " + next.dataset.name); return; }
    if (!loadPage(delta > 0 ? "next" : "prev")) announce(delta > 0 ? "This is the last image." : "This is the first image.");
  }

  function toggle(layer) {
    if (!current) return;
    if (!layerUrl(current, layer)) { announce(NAMES[layer] + " is not recorded for this image."); return; }
    shown[layer] = !shown[layer];
    paintLayers();
    announce(NAMES[layer] + (shown[layer] ? " shown" : " hidden"));
  }

  function cycleOpacity() {
    opacity = (opacity + 1) % OPACITIES.length;
    paintLayers();
    announce("Label opacity " + Math.round(OPACITIES[opacity] * 100) + " %");
  }

  // -------------------------------------------------------------- filters
  // The form stays (it keeps the focus); after each swap its fields are marked from the new answer's errors.
  document.addEventListener("htmx:afterSettle", function () {
    var results = document.getElementById("gallery-results");
    var form = document.getElementById("gallery-filters");
    if (!results || !form) return;
    form.querySelectorAll("select[name]").forEach(function (select) {
      var bad = results.querySelector("#gallery-errors [data-field='" + select.name + "']");
      if (bad) select.setAttribute("aria-invalid", "true"); else select.removeAttribute("aria-invalid");
    });
  });

  // -------------------------------------------------------------- opening
  document.addEventListener("click", function (e) {
    var trigger = e.target.closest("[data-viewer-open], [data-viewer-layers] figure");
    if (!trigger) return;
    var card = trigger.closest("[data-viewer-item]");
    if (!card) return;
    e.preventDefault();
    open(card);
  });

  // -------------------------------------------------------------- inside the viewer
  document.addEventListener("click", function (e) {
    var d = dialog();
    if (!d || !d.open || !d.contains(e.target)) return;
    var btn = e.target.closest("button");
    if (!btn || btn.disabled) return;
    if (btn.hasAttribute("data-viewer-close")) d.close();
    else if (btn.hasAttribute("data-viewer-prev")) step(-1);
    else if (btn.hasAttribute("data-viewer-next")) step(1);
    else if (btn.hasAttribute("data-viewer-opacity")) cycleOpacity();
    else if (btn.dataset.toggleLayer) toggle(btn.dataset.toggleLayer);
    else if (btn.dataset.decide) decide(btn.dataset.decide);
  });

  document.addEventListener("keydown", function (e) {
    var d = dialog();
    if (!d || !d.open || e.ctrlKey || e.metaKey || e.altKey) return;
    var key = e.key;
    if (e.target.matches && e.target.matches("input, textarea, select")) {
      if (key === "Enter" && e.target.hasAttribute("data-viewer-note")) {
        e.preventDefault();
        if (current && DECIDED[current.dataset.review]) decide(current.dataset.review);
        else reviewError("Choose accept, reject or flag to save the note with it.");
      }
      return; // typing a note: the letters are text, not shortcuts
    }
    var decisionKeys = { a: "accepted", r: "rejected", f: "flagged" };
    if (decisionKeys[key.toLowerCase()] && q("[data-decide]")) { decide(decisionKeys[key.toLowerCase()]); e.preventDefault(); return; }
    if (key === "ArrowRight") step(1);
    else if (key === "ArrowLeft") step(-1);
    else if (key >= "1" && key <= "4") toggle(LAYERS[Number(key) - 1]);
    else if (key === "o" || key === "O") cycleOpacity();
    else return; // Escape: the dialog's own cancel, then "close" below
    e.preventDefault();
  });

  // a click on the backdrop (outside the dialog's box) closes it too
  document.addEventListener("mousedown", function (e) {
    var d = dialog();
    if (d && d.open && e.target === d) {
      var r = d.getBoundingClientRect();
      var inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
      if (!inside) d.close();
    }
  });

  document.addEventListener("close", function (e) {
    if (e.target !== dialog() || !current) return;
    var card = document.getElementById(current.id) || current; // the page may have changed under the viewer
    var back = card.isConnected ? card.querySelector("[data-viewer-open]") : null;
    if (back) {
      card.scrollIntoView({ block: "center" });
      back.focus({ preventScroll: true });
    }
  }, true);
})();
