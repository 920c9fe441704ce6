/* The call builder (指南编辑): controls for the application form, the rubric, the tranche
   plan and the formal-review checklist. Each [data-builder] edits the JSON in the textarea
   its data-target names, which is what the server reads (and all there is without
   JavaScript); typing JSON in that textarea rebuilds the controls. The server checks
   everything: this file only spares the officer from typing JSON. */
(function () {
  "use strict";

  var form = document.getElementById("call-form");
  if (!form) { return; }
  var SETTINGS = readJSON(form.getAttribute("data-builder-settings")) || { types: [], conditions: [] };
  var TYPES = {};
  SETTINGS.types.forEach(function (t) { TYPES[t.value] = t; });
  var CONDITIONS = {};
  SETTINGS.conditions.forEach(function (c) { CONDITIONS[c.value] = c.label; });
  // Fields kjflow reads by name (the ranking's 申请经费, the duplicate check's 项目摘要).
  var ROLES = {};
  (SETTINGS.roles || []).forEach(function (r) { ROLES[r.value] = r; });
  var liveRegion = document.getElementById("builder-status");
  var seq = 0;

  // ---- small helpers ---------------------------------------------------------------------

  function readJSON(text) {
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  function uid(prefix) { seq += 1; return "kb-" + prefix + "-" + seq; }

  function announce(text) {
    if (!liveRegion) { return; }
    liveRegion.textContent = "";
    window.setTimeout(function () { liveRegion.textContent = text; }, 40);
  }

  /* el("div", {class: "x", text: "..."}, [children]) */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) { return; }
      if (key === "text") { node.textContent = value; }
      else if (key === "class") { node.className = value; }
      else if (key.slice(0, 2) === "on") { node.addEventListener(key.slice(2), value); }
      else if (value === true) { node.setAttribute(key, ""); }
      else { node.setAttribute(key, value); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  var ICONS = {
    up: "M8 3.5 3.5 8l1 1L7.3 6.2V12.5h1.4V6.2L11.5 9l1-1z",
    down: "M8 12.5 12.5 8l-1-1-2.8 2.8V3.5H7.3v6.3L4.5 7l-1 1z",
    trash: "M6 2h4l.5 1H13v1.3H3V3h2.5zM4 5.3h8l-.6 8.2c0 .5-.4.8-.9.8H5.5c-.5 0-.9-.3-.9-.8zm2 1.4v6h1.2v-6zm2.8 0v6H10v-6z",
    plus: "M7.3 3h1.4v4.3H13v1.4H8.7V13H7.3V8.7H3V7.3h4.3z",
    chevron: "M4.5 6 8 9.5 11.5 6l1 1L8 11.5 3.5 7z"
  };

  function icon(name) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 16 16");
    svg.setAttribute("width", "16");
    svg.setAttribute("height", "16");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }

  /* A labelled input; ``hideLabel`` keeps the label for screen readers only (column
     headings of the first row stand for it on wide screens). */
  function labelled(labelText, control, opts) {
    opts = opts || {};
    var id = control.id || uid("in");
    control.id = id;
    var label = el("label", { "for": id, "class": "form-label small mb-1" + (opts.column ? " kb-lab" : ""),
                              text: labelText });
    var box = el("div", { "class": opts.col || "" }, [label]);
    if (opts.suffix) {
      box.appendChild(el("div", { "class": "input-group input-group-sm" },
                         [control, el("span", { "class": "input-group-text", text: opts.suffix })]));
    } else {
      box.appendChild(control);
    }
    if (opts.help) { box.appendChild(el("div", { "class": "form-text mt-0", text: opts.help })); }
    return box;
  }

  function textInput(value, attrs) {
    return el("input", Object.assign({ type: "text", "class": "form-control form-control-sm",
                                       value: value === undefined || value === null ? "" : String(value) },
                                     attrs || {}));
  }

  /* What a number box holds, as the JSON takes it: an integer (or a number where
     ``decimals``), or the text as typed for the server to explain. */
  function numberOf(text, decimals) {
    var t = String(text).trim();
    if (t === "") { return undefined; }
    if ((decimals ? /^-?\d+(\.\d+)?$/ : /^-?\d+$/).test(t)) { return Number(t); }
    return t;
  }

  function shown(value) { return value === undefined || value === null ? "" : String(value); }

  // ---- one list of rows: add, move, remove, and the JSON it writes ------------------------

  function Builder(root, spec) {
    this.root = root;
    this.spec = spec;
    this.textarea = document.getElementById(root.getAttribute("data-target"));
    this.readonly = root.hasAttribute("data-readonly");
    this.rows = [];
    this.writing = false;
    this.list = el("ol", { "class": "kb-list list-unstyled mb-0", "aria-label": spec.listLabel });
    this.notice = el("div", { "class": "alert alert-warning small py-2", role: "status", hidden: true });
    this.summary = spec.summary ? el("div", { "class": "kb-sum", "aria-live": "polite" }) : null;
    this.addButton = el("button", { type: "button", "class": "btn btn-outline-primary btn-sm kb-add m-0",
                                    onclick: this.add.bind(this) }, [icon("plus"), " " + spec.addLabel]);
    var foot = el("div", { "class": "kb-foot" }, [this.readonly ? null : this.addButton, this.summary]);
    root.classList.add("kb", "kb-" + spec.kind);
    root.appendChild(this.notice);
    root.appendChild(this.list);
    root.appendChild(foot);
    var problems = readJSON(root.getAttribute("data-errors")) || [];
    var details = this.textarea.closest("details");
    if (this.load()) {
      this.attachProblems(problems);
      this.render();
      if (details) { details.open = false; }
    } else {
      this.broken();
    }
    var self = this;
    var timer = null;
    this.textarea.addEventListener("input", function () {
      if (self.writing) { return; }
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        if (self.load()) { self.notice.hidden = true; self.list.hidden = false; self.render(); }
        else { self.broken(); }
      }, 350);
    });
  }

  Builder.prototype.load = function () {
    var text = this.textarea.value.trim();
    var data = text ? readJSON(text) : [];
    if (!Array.isArray(data)) { return false; }
    var rows = [];
    for (var i = 0; i < data.length; i += 1) {
      var item = this.spec.load(data[i]);
      if (item === null) { return false; }
      rows.push({ data: item, key: uid(this.spec.kind), open: false, problems: [] });
    }
    this.rows = rows;
    return true;
  };

  Builder.prototype.broken = function () {
    this.notice.textContent = "JSON 格式有误或含有无法用表单编辑的内容，请在下方“以 JSON 编辑”中修改。";
    this.notice.hidden = false;
    this.list.hidden = true;
    var details = this.textarea.closest("details");
    if (details) { details.open = true; }
  };

  /* The server's messages name a row ("第2项…", "第1笔…"): shown in that row too. */
  Builder.prototype.attachProblems = function (problems) {
    var rows = this.rows;
    problems.forEach(function (message) {
      var found = /^第(\d+)[项笔个]/.exec(message);
      if (!found) { return; }
      var row = rows[Number(found[1]) - 1];
      if (!row) { return; }
      row.problems.push(message.replace(/^第\d+[项笔个](「[^」]*」)?[：:]?/, "") || message);
      row.open = true;
    });
  };

  Builder.prototype.write = function () {
    var spec = this.spec;
    var out = this.rows.map(function (row) { return spec.dump(row.data); });
    this.writing = true;
    this.textarea.value = JSON.stringify(out, null, 1);
    this.textarea.dispatchEvent(new Event("input", { bubbles: true }));
    this.writing = false;
    this.updateSummary();
  };

  Builder.prototype.updateSummary = function () {
    if (!this.summary) { return; }
    this.summary.replaceChildren.apply(this.summary, this.spec.summary(this.rows.map(function (r) { return r.data; })));
  };

  Builder.prototype.render = function () {
    var self = this;
    var n = this.rows.length;
    var items = this.rows.map(function (row, i) { return self.renderRow(row, i, n); });
    if (!n) {
      items = [el("li", { "class": "kb-empty" }, [this.spec.emptyText])];
    }
    this.list.replaceChildren.apply(this.list, items);
    this.updateSummary();
  };

  Builder.prototype.renderRow = function (row, i, n) {
    var self = this;
    var name = this.spec.name(row.data) || "第" + (i + 1) + "项";
    var li = el("li", { "class": "kb-row" + (row.problems.length ? " is-invalid" : ""), "data-key": row.key });
    li.appendChild(el("span", { "class": "kb-num", "aria-hidden": "true", text: String(i + 1) }));
    var body = this.spec.render(row, i, {
      readonly: this.readonly,
      changed: function () {
        if (row.problems.length) {
          row.problems = [];
          li.classList.remove("is-invalid");
          var old = li.querySelector(".kb-problem");
          if (old) { old.remove(); }
        }
        self.write();
      },
      rerender: function (focusSelector) { self.render(); self.focus(row, focusSelector); },
      all: function () { return self.rows.map(function (r) { return r.data; }); }
    });
    body.classList.add("kb-body");
    if (row.problems.length) {
      body.appendChild(el("div", { "class": "invalid-feedback d-block kb-problem", role: "alert" },
                          [row.problems.join("；")]));
    }
    li.appendChild(body);
    if (!this.readonly) {
      li.appendChild(el("div", { "class": "kb-tools", role: "group", "aria-label": "第" + (i + 1) + "项的操作" }, [
        el("button", { type: "button", "class": "btn btn-sm btn-light kb-up", title: "上移",
                       "aria-label": "上移：" + name, disabled: i === 0,
                       onclick: function () { self.move(row, -1); } }, [icon("up")]),
        el("button", { type: "button", "class": "btn btn-sm btn-light kb-down", title: "下移",
                       "aria-label": "下移：" + name, disabled: i === n - 1,
                       onclick: function () { self.move(row, 1); } }, [icon("down")]),
        el("button", { type: "button", "class": "btn btn-sm btn-light kb-remove text-danger", title: "删除",
                       "aria-label": "删除：" + name,
                       onclick: function () { self.remove(row); } }, [icon("trash")])
      ]));
    }
    return li;
  };

  Builder.prototype.focus = function (row, selector) {
    var li = this.list.querySelector('[data-key="' + row.key + '"]');
    var target = li && li.querySelector(selector || "input, select, button");
    if (target && !target.disabled) { target.focus(); return; }
    if (li) {
      var other = li.querySelector(".kb-up:not([disabled]), .kb-down:not([disabled]), .kb-remove");
      if (other) { other.focus(); }
    }
  };

  Builder.prototype.add = function () {
    var data = this.spec.create(this.rows.map(function (r) { return r.data; }));
    var row = { data: data, key: uid(this.spec.kind), open: true, problems: [] };
    this.rows.push(row);
    this.render();
    this.write();
    var li = this.list.querySelector('[data-key="' + row.key + '"]');
    if (li) {
      li.scrollIntoView({ block: "nearest" });
      var first = li.querySelector(".kb-body input, .kb-body select");
      if (first) { first.focus(); }
    }
    announce("已添加第" + this.rows.length + "项");
  };

  Builder.prototype.move = function (row, step) {
    var at = this.rows.indexOf(row);
    var to = at + step;
    if (at < 0 || to < 0 || to >= this.rows.length) { return; }
    this.rows.splice(at, 1);
    this.rows.splice(to, 0, row);
    this.render();
    this.write();
    this.focus(row, step < 0 ? ".kb-up" : ".kb-down");
    announce("已将“" + (this.spec.name(row.data) || "该项") + "”移到第" + (to + 1) + "项");
  };

  Builder.prototype.remove = function (row) {
    var at = this.rows.indexOf(row);
    if (at < 0) { return; }
    this.rows.splice(at, 1);
    this.render();
    this.write();
    var next = this.rows[Math.min(at, this.rows.length - 1)];
    if (next) { this.focus(next, ".kb-remove"); } else { this.addButton.focus(); }
    announce("已删除“" + (this.spec.name(row.data) || "第" + (at + 1) + "项") + "”");
  };

  function nextName(existing, prefix) {
    var used = {};
    existing.forEach(function (d) { if (d && d.name) { used[d.name] = true; } });
    var n = existing.length + 1;
    while (used[prefix + n]) { n += 1; }
    return prefix + n;
  }

  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }

  // ---- the application form --------------------------------------------------------------

  // Each type's settings besides the common ones, as the page offers them:
  // [key, label, kind (int | number | money | date), placeholder].
  var LIMITS = {
    text: [["max", "最多字数", "int", "默认200"]],
    longtext: [["min", "最少字数", "int", "不限"], ["max", "最多字数", "int", "默认5000"]],
    integer: [["min", "最小值", "int", "不限"], ["max", "最大值", "int", "不限"]],
    money: [["min", "最低金额", "money", "不限"], ["max", "最高金额", "money", "不限"]],
    date: [["min", "最早日期", "date", ""], ["max", "最晚日期", "date", ""]],
    persons: [["min_rows", "最少人数", "int", "不限"], ["max_rows", "最多人数", "int", "默认30"]],
    multichoice: [["max_selected", "最多可选几项", "int", "不限"]],
    file: []
  };
  var NOTES = {
    org: "申报人填写单位名称和统一社会信用代码（自动校验）。",
    persons: "每行填写姓名、身份证号码、工作单位、项目分工、职称；身份证号码自动校验。",
    file: "申报人在申报书的“附件”中上传（PDF、DOCX、XLSX、JPG、PNG）。"
  };
  var newOptions = typeof WeakSet === "function" ? new WeakSet() : null;

  function fieldMeta(d) {
    var parts = [TYPES[d.type] ? TYPES[d.type].label : "未知类型"];
    if (d.required) { parts.push("必填"); }
    if (ROLES[d.name]) { parts.push("用作" + ROLES[d.name].label.replace(/（.*$/, "")); }
    if (d.type === "text" || d.type === "longtext") {
      if (d.max !== undefined) { parts.push("最多" + d.max + "字"); }
    } else if ((d.type === "choice" || d.type === "multichoice") && Array.isArray(d.options)) {
      parts.push(d.options.length + "个选项");
    } else if (d.type === "money" && d.max !== undefined) {
      parts.push("不超过" + d.max + "万元");
    }
    return parts;
  }

  /* "多行文本 · 必填 · 最多2000字", each part kept whole when the line wraps. */
  function showMeta(node, d) {
    var parts = fieldMeta(d);
    var children = [];
    parts.forEach(function (part, i) {
      if (i) { children.push(" · "); }
      children.push(el("span", { "class": "text-nowrap", text: part }));
    });
    node.replaceChildren.apply(node, children);
  }

  function optionsEditor(d, ctx) {
    var box = el("div", { "class": "col-12 kb-options" });
    var listId = uid("opts");
    box.appendChild(el("div", { "class": "form-label small mb-1", id: listId, text: "选项" }));
    var list = el("ol", { "class": "list-unstyled mb-1", "aria-labelledby": listId });
    (d.options || []).forEach(function (opt, i) {
      var input = textInput(opt.label, { "aria-label": "选项" + (i + 1), disabled: ctx.readonly,
        oninput: function () {
          opt.label = input.value;
          if (newOptions && newOptions.has(opt)) { opt.value = input.value.trim(); }
          ctx.changed();
        } });
      var row = el("li", { "class": "d-flex align-items-center gap-1 mb-1" }, [input]);
      if (!ctx.readonly) {
        row.appendChild(el("button", { type: "button", "class": "btn btn-sm btn-light text-danger m-0", title: "删除选项",
          "aria-label": "删除选项" + (i + 1) + (opt.label ? "：" + opt.label : ""),
          onclick: function () { d.options.splice(i, 1); ctx.changed(); ctx.rerender(".kb-options button.kb-add-option"); } },
          [icon("trash")]));
      }
      list.appendChild(row);
    });
    box.appendChild(list);
    if (!ctx.readonly) {
      box.appendChild(el("button", { type: "button", "class": "btn btn-sm btn-link kb-add-option p-0 m-0",
        onclick: function () {
          var opt = { value: "", label: "" };
          if (newOptions) { newOptions.add(opt); }
          d.options = d.options || [];
          d.options.push(opt);
          ctx.changed();
          ctx.rerender(".kb-options li:last-child input");
        } }, [icon("plus"), " 添加选项"]));
    }
    return box;
  }

  function limitInput(d, spec, ctx) {
    var key = spec[0], kind = spec[2];
    var attrs = { value: shown(d[key]), placeholder: spec[3], disabled: ctx.readonly };
    if (kind === "date") { attrs.type = "date"; }
    else { attrs.inputmode = kind === "int" ? "numeric" : "decimal"; }
    var input = textInput(d[key], attrs);
    input.addEventListener("input", function () {
      var raw = input.value.trim();
      if (raw === "") { delete d[key]; }
      else if (kind === "int") { d[key] = numberOf(raw, false); }
      else { d[key] = raw; }
      ctx.changed();
    });
    return labelled(spec[1], input, { col: "col-6 col-sm-4", suffix: kind === "money" ? "万元" : null });
  }

  var FORM = {
    kind: "form",
    listLabel: "申报书字段",
    addLabel: "添加字段",
    emptyText: "尚未添加字段",
    load: function (item) {
      if (!isObject(item)) { return null; }
      var copy = Object.assign({}, item);
      if (Array.isArray(item.options)) {
        copy.options = item.options.map(function (o) { return isObject(o) ? Object.assign({}, o) : o; });
      }
      return copy;
    },
    dump: function (d) {
      var out = { name: d.name, label: d.label, type: d.type };
      if (d.required) { out.required = true; }
      Object.keys(d).forEach(function (key) {
        if (key in out || key === "required") { return; }
        if (key === "help" && !String(d.help || "").trim()) { return; }
        if (key === "options" && Array.isArray(d.options)) {
          out.options = d.options.filter(function (o) { return !isObject(o) || String(o.label || "").trim(); })
            .map(function (o) { return isObject(o) ? { value: String(o.value || o.label).trim(), label: String(o.label).trim() } : o; });
          return;
        }
        out[key] = d[key];
      });
      return out;
    },
    create: function (existing) {
      return { name: nextName(existing, "field_"), label: "", type: "text", required: false };
    },
    name: function (d) { return String(d.label || "").trim(); },
    summary: function (items) {
      var named = {};
      items.forEach(function (d) { named[d.name] = true; });
      var lacking = (SETTINGS.roles || []).filter(function (r) { return r.expected && !named[r.value]; });
      if (!items.length || !lacking.length) { return []; }
      return [el("span", { "class": "small text-body-secondary", text: "提示：尚无字段用作" + lacking.map(function (r) {
        return "“" + r.label.replace(/（.*$/, "") + "”"; }).join("、") + "（在字段的“系统用途”中指定）" })];
    },
    render: function (row, i, ctx) {
      var d = row.data;
      var body = el("div", {});
      var bodyId = uid("fb");
      var labelView = el("span", { "class": "fb-label", text: String(d.label || "").trim() || "（未命名字段）" });
      var metaView = el("span", { "class": "fb-meta" });
      showMeta(metaView, d);
      var toggle = el("button", { type: "button", "class": "fb-toggle", "aria-expanded": row.open ? "true" : "false",
        "aria-controls": bodyId,
        onclick: function () {
          row.open = !row.open;
          toggle.setAttribute("aria-expanded", row.open ? "true" : "false");
          settings.hidden = !row.open;
        } }, [el("span", { "class": "fb-text" }, [labelView, metaView]),
              el("span", { "class": "fb-chevron" }, [icon("chevron")])]);
      body.appendChild(toggle);
      function refresh() {
        labelView.textContent = String(d.label || "").trim() || "（未命名字段）";
        showMeta(metaView, d);
      }
      var changed = function () { refresh(); ctx.changed(); };
      var inner = Object.assign({}, ctx, { changed: changed });

      var label = textInput(d.label, { maxlength: "100", disabled: ctx.readonly, "aria-required": "true",
        oninput: function () { d.label = label.value; changed(); } });
      var type = el("select", { "class": "form-select form-select-sm fb-type", disabled: ctx.readonly,
        onchange: function () {
          var before = TYPES[d.type] ? TYPES[d.type].keys : [];
          var after = TYPES[type.value] ? TYPES[type.value].keys : [];
          before.forEach(function (k) { if (after.indexOf(k) < 0) { delete d[k]; } });
          d.type = type.value;
          if (ROLES[d.name] && ROLES[d.name].types.indexOf(d.type) < 0) {
            d.name = nextName(ctx.all(), "field_");
          }
          if (after.indexOf("options") >= 0 && !Array.isArray(d.options)) {
            var a = { value: "", label: "" }, b = { value: "", label: "" };
            if (newOptions) { newOptions.add(a); newOptions.add(b); }
            d.options = [a, b];
          }
          changed();
          ctx.rerender(".fb-type");
        } });
      SETTINGS.types.forEach(function (t) {
        type.appendChild(el("option", { value: t.value, selected: t.value === d.type, text: t.label }));
      });
      if (!TYPES[d.type]) {
        type.insertBefore(el("option", { value: shown(d.type), selected: true, text: "未知类型：" + shown(d.type) }), type.firstChild);
      }
      var help = textInput(d.help, { maxlength: "1000", disabled: ctx.readonly,
        oninput: function () { d.help = help.value; changed(); } });
      var requiredId = uid("req");
      var required = el("input", { type: "checkbox", "class": "form-check-input", role: "switch", id: requiredId,
        checked: !!d.required, disabled: ctx.readonly,
        onchange: function () { d.required = required.checked; changed(); } });

      var settings = el("div", { "class": "fb-settings row g-2", id: bodyId, hidden: !row.open }, [
        labelled("字段标题", label, { col: "col-sm-7" }),
        labelled("字段类型", type, { col: "col-sm-5" }),
        labelled("填写说明（选填）", help, { col: "col-12" }),
        el("div", { "class": "col-12" }, [el("div", { "class": "form-check form-switch mb-0" }, [
          required, el("label", { "class": "form-check-label small", "for": requiredId, text: "必填（申报人必须填写此项）" })])])
      ]);
      var roles = (SETTINGS.roles || []).filter(function (r) { return r.types.indexOf(d.type) >= 0; });
      if (roles.length) {
        var role = el("select", { "class": "form-select form-select-sm fb-role", disabled: ctx.readonly,
          onchange: function () {
            var all = ctx.all();
            if (role.value) {
              all.forEach(function (o) { if (o !== d && o.name === role.value) { o.name = nextName(all, "field_"); } });
              d.name = role.value;
            } else if (ROLES[d.name]) {
              d.name = nextName(all, "field_");
            }
            changed();
            ctx.rerender(".fb-role");
          } }, [el("option", { value: "", text: "无" })]);
        roles.forEach(function (r) {
          role.appendChild(el("option", { value: r.value, selected: d.name === r.value, text: r.label }));
        });
        settings.appendChild(labelled("系统用途", role, { col: "col-12",
          help: "系统按用途读取此项，如评审排名按“申请经费”计算资助线；每种用途只能指定一个字段。" }));
      }
      (LIMITS[d.type] || []).forEach(function (spec) { settings.appendChild(limitInput(d, spec, inner)); });
      if (d.type === "choice" || d.type === "multichoice") { settings.appendChild(optionsEditor(d, inner)); }
      if (d.type === "file") {
        var multiId = uid("multi");
        var multiple = el("input", { type: "checkbox", "class": "form-check-input", role: "switch", id: multiId,
          checked: d.multiple === true, disabled: ctx.readonly,
          onchange: function () {
            if (multiple.checked) { d.multiple = true; } else { delete d.multiple; delete d.max_files; }
            changed();
            ctx.rerender("#" + multiId);
          } });
        settings.appendChild(el("div", { "class": "col-12" }, [el("div", { "class": "form-check form-switch mb-0" }, [
          multiple, el("label", { "class": "form-check-label small", "for": multiId, text: "允许上传多个文件" })])]));
        if (d.multiple === true) {
          settings.appendChild(limitInput(d, ["max_files", "最多文件数", "int", "不限"], inner));
        }
      }
      if (NOTES[d.type]) { settings.appendChild(el("div", { "class": "col-12 form-text mt-0", text: NOTES[d.type] })); }
      body.appendChild(settings);
      return body;
    }
  };

  // ---- the rubric, the tranche plan, the checklist ----------------------------------------

  function total(values) {
    return values.reduce(function (sum, v) {
      var n = typeof v === "number" ? v : Number(String(v === undefined ? "" : v).trim());
      return sum + (isFinite(n) && String(v).trim() !== "" ? n : 0);
    }, 0);
  }

  function round(n) { return Math.round(n * 100) / 100; }

  function sumLine(label, sum, target) {
    var diff = round(target - sum);
    var tone = diff === 0 ? "success" : (diff > 0 ? "warning" : "danger");
    var note = diff === 0 ? "已达到" + target : (diff > 0 ? "还差 " + diff : "超出 " + (-diff));
    return [label + " ", el("strong", { "class": "kb-total", text: String(round(sum)) }), " / " + target + " ",
            el("span", { "class": "badge text-bg-" + tone, text: note })];
  }

  function rowInput(row, key, labelText, opts) {
    var d = row.data;
    var input = textInput(d[key], Object.assign({ disabled: opts.ctx.readonly }, opts.attrs || {}));
    input.addEventListener("input", function () {
      d[key] = opts.number ? numberOf(input.value, true) : input.value;
      if (d[key] === undefined) { d[key] = ""; }
      opts.ctx.changed();
    });
    return labelled(labelText, input, { col: opts.col, column: true, suffix: opts.suffix });
  }

  var RUBRIC = {
    kind: "rubric",
    listLabel: "评分项",
    addLabel: "添加评分项",
    emptyText: "尚未设置评分项",
    load: function (item) { return isObject(item) ? Object.assign({}, item) : null; },
    dump: function (d) { return Object.assign({}, d); },
    create: function (existing) {
      var left = round(100 - total(existing.map(function (d) { return d.weight; })));
      return { name: nextName(existing, "criterion_"), label: "", weight: left > 0 ? left : "", max: 100 };
    },
    name: function (d) { return String(d.label || "").trim(); },
    render: function (row, i, ctx) {
      return el("div", { "class": "row g-2" }, [
        rowInput(row, "label", "评分项", { ctx: ctx, col: "col-12 col-md-6", attrs: { maxlength: "100" } }),
        rowInput(row, "weight", "权重", { ctx: ctx, col: "col-6 col-md-3", number: true, attrs: { inputmode: "decimal" } }),
        rowInput(row, "max", "满分", { ctx: ctx, col: "col-6 col-md-3", number: true, attrs: { inputmode: "numeric" } })
      ]);
    },
    summary: function (items) {
      return sumLine("权重合计", total(items.map(function (d) { return d.weight; })), 100);
    }
  };

  var TRANCHES = {
    kind: "tranche",
    listLabel: "拨付批次",
    addLabel: "添加拨付",
    emptyText: "尚未设置拨付计划",
    load: function (item) { return isObject(item) ? Object.assign({}, item) : null; },
    dump: function (d) {
      var out = { label: d.label, condition: d.condition };
      if (d.condition !== "milestone") { out.percent = d.percent; }
      return out;
    },
    create: function (existing) {
      var paid = existing.filter(function (d) { return d.condition !== "milestone"; });
      var left = round(100 - total(paid.map(function (d) { return d.percent; })));
      return { label: "", condition: "contract", percent: left > 0 ? left : "" };
    },
    name: function (d) { return String(d.label || "").trim(); },
    render: function (row, i, ctx) {
      var d = row.data;
      var condition = el("select", { "class": "form-select form-select-sm", disabled: ctx.readonly,
        onchange: function () { d.condition = condition.value; ctx.changed(); ctx.rerender("select"); } });
      SETTINGS.conditions.forEach(function (c) {
        condition.appendChild(el("option", { value: c.value, selected: c.value === d.condition, text: c.label }));
      });
      if (!CONDITIONS[d.condition]) {
        condition.insertBefore(el("option", { value: "", selected: true, text: "请选择" }), condition.firstChild);
      }
      var cells = [
        rowInput(row, "label", "名称", { ctx: ctx, col: "col-12 col-md-4", attrs: { maxlength: "100", placeholder: "如：首笔" } }),
        labelled("拨付条件", condition, { col: "col-7 col-md-5", column: true })
      ];
      if (d.condition === "milestone") {
        cells.push(el("div", { "class": "col-5 col-md-3" }, [
          el("span", { "class": "form-label small mb-1 kb-lab d-block", text: "比例" }),
          el("div", { "class": "small text-body-secondary pt-1", text: "按榜单里程碑" })]));
      } else {
        cells.push(rowInput(row, "percent", "比例", { ctx: ctx, col: "col-5 col-md-3", number: true, suffix: "%",
                                                     attrs: { inputmode: "numeric" } }));
      }
      return el("div", { "class": "row g-2" }, cells);
    },
    summary: function (items) {
      var paid = items.filter(function (d) { return d.condition !== "milestone"; });
      if (!items.length) { return ["未设置拨付计划时，立项后不生成拨付批次"]; }
      if (!paid.length) { return ["全部按榜单里程碑比例拨付"]; }
      return sumLine("比例合计", total(paid.map(function (d) { return d.percent; })), 100);
    }
  };

  var CHECKLIST = {
    kind: "checklist",
    listLabel: "形式审查要点",
    addLabel: "添加审查要点",
    emptyText: "尚未设置形式审查要点",
    load: function (item) {
      if (typeof item === "string") { return { label: item, required: false }; }
      if (isObject(item) && typeof item.label === "string") {
        return { label: item.label, required: item.required === true };
      }
      return null;
    },
    dump: function (d) { return d.required ? { label: d.label, required: true } : d.label; },
    create: function () { return { label: "", required: false }; },
    name: function (d) { return String(d.label || "").trim(); },
    render: function (row, i, ctx) {
      var d = row.data;
      var id = uid("must");
      var must = el("input", { type: "checkbox", "class": "form-check-input", id: id, checked: d.required,
        disabled: ctx.readonly, onchange: function () { d.required = must.checked; ctx.changed(); } });
      return el("div", { "class": "row g-2 align-items-end" }, [
        rowInput(row, "label", "审查要点", { ctx: ctx, col: "col-12 col-md-9", attrs: { maxlength: "200" } }),
        el("div", { "class": "col-12 col-md-3" }, [el("div", { "class": "form-check kb-must" }, [
          must, el("label", { "class": "form-check-label small", "for": id, text: "必须勾选" })])])
      ]);
    }
  };

  var SPECS = { form_schema: FORM, rubric: RUBRIC, tranche_plan: TRANCHES, checklist: CHECKLIST };

  Array.prototype.forEach.call(document.querySelectorAll("[data-builder]"), function (root) {
    var spec = SPECS[root.getAttribute("data-builder")];
    if (spec && document.getElementById(root.getAttribute("data-target"))) {
      root.builder = new Builder(root, spec);
    }
  });
})();
