/* The lifecycle diagram (states/diagram.py): shown at its natural size, where no text is
   under 11 px, in a box that scrolls; zoom in and out (never below the size where the
   smallest text would fall under 11 px), back to the natural size, and the current
   state scrolled into view whenever the diagram is shown. */
(function () {
  "use strict";
  var PX_PER_PT = 4 / 3;
  var SMALLEST_TEXT_PT = 10;  // the transitions' labels (states/diagram.py EDGE_PT)
  var MIN_PX = 11;
  var STEPS = [1, 1.25, 1.5, 2, 2.5, 3];
  // The lowest zoom keeps the smallest text at 11 px (0.825, rounded up to a whole %).
  var LOWEST = Math.ceil(MIN_PX / (SMALLEST_TEXT_PT * PX_PER_PT) * 100) / 100;

  function setUp(box) {
    var svg = box.querySelector("svg");
    var tools = box.parentElement.querySelector("[data-diagram-tools]");
    if (!svg || !tools) { return; }
    var width = parseFloat(svg.getAttribute("width")) * PX_PER_PT;
    var height = parseFloat(svg.getAttribute("height")) * PX_PER_PT;
    var levels = [LOWEST].concat(STEPS);
    var level = 1;
    var shown = tools.querySelector("[data-zoom-level]");

    function apply(keepCentre) {
      var scale = levels[level];
      var cx = box.scrollLeft + box.clientWidth / 2, cy = box.scrollTop + box.clientHeight / 2;
      var before = svg.getBoundingClientRect().width || width;
      svg.style.width = (width * scale) + "px";
      svg.style.height = (height * scale) + "px";
      if (keepCentre) {
        var ratio = (width * scale) / before;
        box.scrollLeft = cx * ratio - box.clientWidth / 2;
        box.scrollTop = cy * ratio - box.clientHeight / 2;
      }
      shown.textContent = Math.round(scale * 100) + "%";
      tools.querySelector("[data-zoom=out]").disabled = level === 0;
      tools.querySelector("[data-zoom=in]").disabled = level === levels.length - 1;
      box.setAttribute("data-scale", String(scale));
    }

    function showCurrent() {
      var current = svg.querySelector(".current");
      if (!current || !box.clientWidth) { return; }
      var b = box.getBoundingClientRect(), c = current.getBoundingClientRect();
      box.scrollLeft += (c.left + c.width / 2) - (b.left + b.width / 2);
      box.scrollTop += (c.top + c.height / 2) - (b.top + b.height / 2);
    }

    tools.addEventListener("click", function (event) {
      var button = event.target.closest("[data-zoom]");
      if (!button) { return; }
      var what = button.getAttribute("data-zoom");
      if (what === "in" && level < levels.length - 1) { level += 1; }
      if (what === "out" && level > 0) { level -= 1; }
      if (what === "reset") { level = 1; }
      apply(what !== "reset");
      if (what === "reset") { showCurrent(); }
    });
    // Ctrl + wheel zooms the diagram rather than the page.
    box.addEventListener("wheel", function (event) {
      if (!event.ctrlKey) { return; }
      event.preventDefault();
      level = Math.max(0, Math.min(levels.length - 1, level + (event.deltaY < 0 ? 1 : -1)));
      apply(true);
    }, { passive: false });
    var pane = box.closest(".tab-pane");
    if (pane && pane.id) {
      var tab = document.querySelector("[data-bs-target='#" + pane.id + "']");
      if (tab) { tab.addEventListener("shown.bs.tab", showCurrent); }
    }
    tools.hidden = false;
    apply(false);
    showCurrent();
  }

  function ready() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-diagram]"), setUp);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
