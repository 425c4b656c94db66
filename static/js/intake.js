/* The intake note form: "Copy into the note" puts one section of the patient's submitted intake into the
   note field it belongs to (data-intake-copy names it), after what is already written there. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-intake-copy]");
    if (!button) return;
    var field = document.getElementById(button.dataset.intakeCopy) || document.getElementById("id_body");
    var source = document.getElementById(button.dataset.intakeSource);
    if (!field || !source) return;
    var text = source.value;
    field.value = field.value.trim() ? field.value.replace(/\s+$/, "") + "\n\n" + text : text;
    field.dispatchEvent(new Event("input", { bubbles: true }));
    button.textContent = "Copied into the note";
    field.focus();
  });
})();
