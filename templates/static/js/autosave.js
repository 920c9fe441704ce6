/* Autosave of the application form (POST data-autosave, answered by
   applying.autosave): two seconds after the last keystroke, when a field is left, and
   when the page is left. Says "已保存 10:42" (Beijing time, as the server saved it), or
   why not, with each error beside its field. The form's own buttons save everything: no
   autosave races them, and one under way is waited for (its new version goes along). */
(function () {
  "use strict";
  var form = document.getElementById("app-form");
  if (!form || !form.dataset.autosave) { return; }
  var status = document.getElementById("autosave-status");
  var version = form.querySelector("input[name=version]");
  var DELAY = 2000;
  var dirty = false, submitting = false, timer = null, inflight = null;

  function say(text) { if (status) { status.textContent = text; } }

  function feedbackFor(key) {
    return form.querySelector("[data-error-for='" + key.replace(/'/g, "\\'") + "']");
  }

  function fieldOf(box) {
    return document.getElementById(box.id.replace(/-error$/, ""));
  }

  function showError(box, message) {
    box.textContent = message;
    box.classList.add("d-block");
    box.setAttribute("data-autosave-error", "1");
    var field = fieldOf(box);
    if (field) { field.classList.add("is-invalid"); field.setAttribute("aria-invalid", "true"); }
  }

  function clearError(box) {
    box.textContent = "";
    box.classList.remove("d-block");
    box.removeAttribute("data-autosave-error");
    var field = fieldOf(box);
    if (field) { field.classList.remove("is-invalid"); field.removeAttribute("aria-invalid"); }
  }

  function showErrors(errors) {
    var shown = {};
    Object.keys(errors || {}).forEach(function (key) {
      var box = feedbackFor(key);
      if (box) { showError(box, errors[key]); shown[box.id] = true; }
    });
    Array.prototype.forEach.call(form.querySelectorAll("[data-autosave-error]"), function (box) {
      if (!shown[box.id]) { clearError(box); }
    });
  }

  function save(leaving) {
    window.clearTimeout(timer);
    if (!dirty || submitting || inflight) { return inflight; }
    dirty = false;
    say("正在保存…");
    inflight = fetch(form.dataset.autosave, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      keepalive: !!leaving, headers: { "Accept": "application/json" }
    }).then(function (resp) {
      return resp.json().then(function (data) { return [resp.ok, data]; });
    }).then(function (result) {
      var ok = result[0], data = result[1];
      if (ok) {
        if (data.version && version) { version.value = data.version; }
        say("已保存 " + data.saved_at);
        showErrors({});
      } else {
        var errors = data.errors || {};
        var count = Object.keys(errors).length;
        say("未能自动保存：" + (count ? "有" + count + "处需要修改，见各栏提示" : (data.message || "")));
        showErrors(errors);
        dirty = true;
      }
    }).catch(function () {
      say("网络异常，稍后将再次尝试自动保存");
      dirty = true;
    }).then(function () {
      inflight = null;
      if (dirty && !submitting && !leaving) { schedule(); }
    });
    return inflight;
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { save(false); }, DELAY);
  }

  function changed(event) {
    if (event.target.form !== form || event.target.name === "csrf_token") { return; }
    dirty = true;
    say("有未保存的修改");
    schedule();
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("focusout", function () { if (dirty) { save(false); } });

  form.addEventListener("submit", function (event) {
    window.clearTimeout(timer);
    if (inflight) {
      // Wait for the autosave under way, then send the form with the version it made.
      event.preventDefault();
      event.stopImmediatePropagation();
      var button = event.submitter || null;
      inflight.then(function () { submitting = false; form.requestSubmit(button || undefined); });
      submitting = true;
      return;
    }
    submitting = true;
    dirty = false;
  }, true);
  window.addEventListener("pagehide", function () { save(true); });
  form.setAttribute("data-autosave-ready", "");
})();
