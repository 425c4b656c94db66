/* Alliance CRM's own behaviour, loaded on every page after htmx. No inline scripts: the
   Content-Security-Policy allows only our static files, so pages ask for behaviour with data- attributes. */
(function () {
  "use strict";

  function each(root, selector, fn) {
    if (root.matches && root.matches(selector)) fn(root);
    root.querySelectorAll(selector).forEach(fn);
  }

  function enhance(root) {
    // A "why is it paused" box shows only when "Paused on purpose" is chosen (check-in answers).
    each(root, "[data-paused-reason]", function (box) {
      var radios = document.querySelectorAll('input[name="' + box.dataset.pausedReason + '"]');
      function update() {
        var chosen = Array.prototype.find.call(radios, function (radio) { return radio.checked; });
        box.hidden = !(chosen && chosen.value === "paused");
      }
      radios.forEach(function (radio) { radio.addEventListener("change", update); });
      update();
    });
  }

  // <button data-remove-closest="form">: Cancel/Close on the pipeline's move form.
  // <button data-print>: print this page.
  document.addEventListener("click", function (event) {
    var remover = event.target.closest("[data-remove-closest]");
    if (remover) {
      var target = remover.closest(remover.dataset.removeClosest);
      if (target) target.remove();
      return;
    }
    if (event.target.closest("[data-print]")) window.print();
  });

  if (window.htmx) {
    window.htmx.onLoad(enhance);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  } else {
    enhance(document);
  }
})();
