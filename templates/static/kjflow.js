/* kjflow's own script (no inline scripts: the CSP allows only files of this site).
   Confirmation before an irreversible action: a form or its submit button carrying
   data-confirm="…" asks first, naming the consequence, in an accessible dialog. So does
   a checked box of the form that carries it (the bulk review's "every matching row"),
   before the form's own; "{choice}" in its text is the chosen option of the select
   its data-confirm-choice names (the decision). */
(function () {
  "use strict";
  function checkedAsking(form) {
    var fields = form.elements;
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].checked && fields[i].hasAttribute("data-confirm")) { return fields[i]; }
    }
    return null;
  }
  function choiceOf(asker) {
    var select = asker && document.getElementById(asker.getAttribute("data-confirm-choice") || "");
    var option = select && select.options[select.selectedIndex];
    return option ? option.textContent.trim() : "";
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter || null;
    var asker = (button && button.hasAttribute("data-confirm")) ? button : checkedAsking(form);
    var text = (asker && asker.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (!text || form.dataset.confirmed === "1") { return; }
    text = text.replace("{choice}", choiceOf(asker));
    event.preventDefault();
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || !window.bootstrap) {
      if (window.confirm(text)) { form.dataset.confirmed = "1"; form.requestSubmit(button || undefined); }
      return;
    }
    document.getElementById("confirm-text").textContent = text;
    var go = document.getElementById("confirm-go");
    go.textContent = (asker && asker.getAttribute("data-confirm-label")) ||
      (button && button.getAttribute("data-confirm-label")) ||
      (button ? "确定" + button.textContent.trim() : "确定");
    var modal = window.bootstrap.Modal.getOrCreateInstance(dialog);
    go.onclick = function () {
      form.dataset.confirmed = "1";
      modal.hide();
      form.requestSubmit(button || undefined);
      window.setTimeout(function () { delete form.dataset.confirmed; }, 0);
    };
    modal.show();
  });
})();

/* Lists (templates/_list.html): choosing a filter or the page size submits the search
   form, which htmx sends for the list region alone (without JavaScript: the 筛选 button). */
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.tagName !== "SELECT" || !field.form || !field.form.classList.contains("list-search")) { return; }
    field.form.requestSubmit();
  });
})();
