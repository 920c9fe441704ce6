/* Forms that help (templates/ui/forms.html): a character counter beside each field with
   a maximum length, and the summary of a refused form's errors, focused on arrival so a
   screen reader reads it, whose links put the cursor in the field they name. */
(function () {
  "use strict";

  function updateCounter(box) {
    var field = document.getElementById(box.getAttribute("data-count-for"));
    if (!field) { return; }
    var n = field.value.length;
    var most = parseInt(box.getAttribute("data-max"), 10);
    var least = parseInt(box.getAttribute("data-min") || "0", 10);
    box.querySelector("[data-count]").textContent = String(n);
    box.classList.toggle("text-danger", n > most || (least > 0 && n > 0 && n < least));
  }

  function counters(root) {
    Array.prototype.forEach.call(root.querySelectorAll("[data-count-for]"), updateCounter);
  }

  document.addEventListener("input", function (event) {
    var id = event.target && event.target.id;
    if (!id) { return; }
    var box = document.getElementById(id + "-count");
    if (box && box.hasAttribute("data-count-for")) { updateCounter(box); }
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".kj-error-summary a[href^='#']");
    if (!link) { return; }
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) { return; }
    event.preventDefault();
    field.scrollIntoView({ block: "center" });
    field.focus({ preventScroll: true });
  });

  function ready() {
    counters(document);
    var summary = document.querySelector(".kj-error-summary");
    if (summary) { summary.focus(); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
