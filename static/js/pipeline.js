/* The pipeline board: drag a card to another column to move the patient (SortableJS, vendored), and fold
   columns away. A drop posts to the card's own move URL with htmx, exactly as the Move… form does: the
   server decides, a refused move comes back with its reason and the card goes back where it was. The
   Move… form stays the keyboard's way. */
(function () {
  "use strict";

  var FOLDED = "alliance.pipeline.folded";

  function each(root, selector, fn) {
    if (root.matches && root.matches(selector)) fn(root);
    root.querySelectorAll(selector).forEach(fn);
  }

  function folded() {
    try {
      return JSON.parse(window.localStorage.getItem(FOLDED) || "[]");
    } catch (error) {
      return [];
    }
  }

  function remember(stage, isFolded) {
    var stages = folded().filter(function (s) { return s !== stage; });
    if (isFolded) stages.push(stage);
    try {
      window.localStorage.setItem(FOLDED, JSON.stringify(stages));
    } catch (error) { /* private browsing: folding still works, it is only not remembered */ }
  }

  function say(text) {
    var box = document.getElementById("pipeline-messages");
    if (!box) return;
    var alert = document.createElement("div");
    alert.className = "alert alert-warning";
    alert.setAttribute("role", "alert");
    alert.textContent = text;
    box.replaceChildren(alert);
  }

  function goHome(card) {
    var home = card._home;
    if (!home) return;
    if (home.next && home.next.parentNode === home.list) {
      home.list.insertBefore(card, home.next);
    } else {
      home.list.appendChild(card);
    }
  }

  function lists() {
    return document.querySelectorAll("[data-stage-list]");
  }

  function started(event) {
    var card = event.item;
    card._home = { list: event.from, next: card.nextElementSibling };
    var moves = (event.from.dataset.moves || "").split(" ");
    document.body.classList.add("pipeline-dragging");
    lists().forEach(function (list) {
      var welcome = list === event.from || moves.indexOf(list.dataset.stageList) !== -1;
      list.classList.toggle("drop-unlikely", !welcome);
    });
  }

  function dropped(event) {
    document.body.classList.remove("pipeline-dragging");
    lists().forEach(function (list) { list.classList.remove("drop-unlikely"); });
    var card = event.item;
    if (event.from === event.to) return;
    var slot = card.querySelector("[data-move-slot]");
    card.setAttribute("aria-busy", "true");
    function answered(response) {
      card.removeEventListener("htmx:afterRequest", answered);
      card.removeAttribute("aria-busy");
      var status = response.detail.xhr ? response.detail.xhr.status : 0;
      if (status === 200) return; // moved: htmx said so and the board reloads itself
      goHome(card);
      if (status !== 422) say("The move could not be saved. Nothing changed; try again in a moment.");
    }
    card.addEventListener("htmx:afterRequest", answered);
    window.htmx.ajax("POST", card.dataset.moveUrl, {
      source: card,
      target: slot,
      swap: "innerHTML",
      values: { to_stage: event.to.dataset.stageList, next: window.location.pathname + window.location.search },
    });
  }

  function enhance(root) {
    if (window.Sortable) {
      each(root, "[data-stage-list]", function (list) {
        if (list._sortable) return;
        list._sortable = window.Sortable.create(list, {
          group: "pipeline",
          sort: false,
          draggable: ".pipeline-card",
          filter: "a, button, input, select, textarea, label, form",
          preventOnFilter: false,
          animation: 0,
          onStart: started,
          onEnd: dropped,
        });
      });
    }
    var stages = folded();
    each(root, "[data-collapse-stage]", function (details) {
      if (stages.indexOf(details.dataset.collapseStage) !== -1) details.open = false;
      details.addEventListener("toggle", function () {
        remember(details.dataset.collapseStage, !details.open);
      });
    });
  }

  // SortableJS leaves style="" on what it dragged; when the board reloads, htmx would copy that attribute
  // onto the new cards, which the Content-Security-Policy (no inline styles) refuses. Drop it first.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.querySelectorAll) return;
    target.querySelectorAll(".pipeline-board [style], .pipeline-cards[style], .pipeline-card[style]").forEach(
      function (element) { element.removeAttribute("style"); }
    );
    if (target.matches(".pipeline-card[style]")) target.removeAttribute("style");
  });

  if (window.htmx) window.htmx.onLoad(enhance);
})();
