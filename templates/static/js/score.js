/* The scoring form (templates/reviews/score.html): the weighted total as the expert
   types, Σ score / max × weight rounded half up to 0.01 as the server computes it
   (workflow/review/ranking.py weighted_total), with what is still missing or wrong. */
(function () {
  "use strict";
  var form = document.querySelector("[data-score-form]");
  if (!form) { return; }
  var inputs = Array.prototype.slice.call(form.querySelectorAll("input[data-weight]"));
  var total = form.querySelector("[data-total]");
  var note = form.querySelector("[data-total-note]");
  if (!inputs.length || !total) { return; }
  var NUMBER = /^\s*\d+(\.\d+)?\s*$/;

  function labelOf(input) {
    var label = form.querySelector("label[for='" + input.id + "']");
    return label ? label.textContent.trim() : input.name;
  }

  function update() {
    var sum = 0, missing = 0, wrong = [];
    inputs.forEach(function (input) {
      var raw = input.value;
      if (!raw.trim()) { missing += 1; return; }
      var max = parseFloat(input.getAttribute("data-max"));
      if (!NUMBER.test(raw) || parseFloat(raw) > max) { wrong.push(labelOf(input)); return; }
      sum += parseFloat(raw) / max * parseFloat(input.getAttribute("data-weight"));
    });
    var counted = inputs.length - missing - wrong.length;
    // Half up at 0.01, away from binary noise (e.g. 82.499999…).
    total.textContent = counted ? (Math.round((sum + 1e-9) * 100) / 100).toFixed(2) : "—";
    var parts = [];
    if (wrong.length) { parts.push("“" + wrong.join("”“") + "”的分数超出范围或不是数字"); }
    if (missing) { parts.push("尚有" + missing + "项未评分"); }
    note.textContent = parts.length ? "（" + parts.join("；") + "）" : "";
  }

  form.addEventListener("input", update);
  update();
})();
