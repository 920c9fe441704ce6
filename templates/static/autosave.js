// Autosave the application form every 20 seconds while it has unsaved changes.
(function () {
  var form = document.getElementById("app-form");
  if (!form || !form.dataset.autosave) { return; }
  var status = document.getElementById("autosave-status");
  var dirty = false;
  var submitting = false;
  form.addEventListener("input", function () { dirty = true; });
  // The form's own buttons save everything: no autosave may race them.
  form.addEventListener("submit", function () { submitting = true; dirty = false; });
  function save(leaving) {
    if (!dirty || submitting) { return; }
    dirty = false;
    var body = new FormData(form);
    fetch(form.dataset.autosave, { method: "POST", body: body, credentials: "same-origin",
                                   keepalive: !!leaving })
      .then(function (resp) { return resp.json().then(function (data) { return [resp.ok, data]; }); })
      .then(function (result) {
        var ok = result[0], data = result[1];
        var now = new Date().toTimeString().slice(0, 5);
        if (ok) {
          status.textContent = "已自动保存 " + now;
          var v = form.querySelector("input[name=version]");
          if (v && data.version) { v.value = data.version; }
        } else {
          status.textContent = "未能自动保存：" + (data.message || "") + " " +
            Object.values(data.errors || {}).join("；");
          dirty = true;
        }
      })
      .catch(function () { status.textContent = "网络异常，稍后重试自动保存"; dirty = true; });
  }
  setInterval(function () { save(false); }, 20000);
  window.addEventListener("pagehide", function () { save(true); });
})();
