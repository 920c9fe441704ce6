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

  // A table wider than its box scrolls in it: the box then takes the keyboard's focus
  // (arrow keys scroll it) and is named for a screen reader.
  function scrollableTables() {
    Array.prototype.forEach.call(document.querySelectorAll(".table-responsive"), function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        var heading = box.querySelector("caption") || (box.previousElementSibling &&
          /^H[2-6]$/.test(box.previousElementSibling.tagName) ? box.previousElementSibling : null);
        box.setAttribute("aria-label", (heading ? heading.textContent.trim() + "：" : "") +
                         "表格（可左右滚动）");
        box.setAttribute("data-kj-scroll", "");
      } else if (!scrolls && box.hasAttribute("data-kj-scroll")) {
        ["tabindex", "role", "aria-label", "data-kj-scroll"].forEach(function (name) {
          box.removeAttribute(name);
        });
      }
    });
  }

  function ready() {
    counters(document);
    scrollableTables();
    window.addEventListener("resize", scrollableTables);
    var summary = document.querySelector(".kj-error-summary");
    if (summary) { summary.focus(); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
