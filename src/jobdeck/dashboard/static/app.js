/* jobdeck dashboard: live updates (SSE, polling fallback), actions with confirmation, filters, schedule editor.
 * Plain script, no build step. Pages work without it (forms post and redirect); with it they update in place. */
(function () {
  "use strict";

  var body = document.body;
  var root = body.getAttribute("data-root") || "";
  var lang = body.getAttribute("data-lang") || "en";
  var strings = {};
  try { strings = JSON.parse(document.getElementById("jd-strings").textContent || "{}"); } catch (e) { strings = {}; }

  function t(key, values) {
    var text = strings[key] || key;
    if (values) Object.keys(values).forEach(function (name) { text = text.split("{" + name + "}").join(String(values[name])); });
    return text;
  }

  // -- time: relative times and running times, re-rendered as time passes -----------------------------------

  function relative(iso) {
    var moment = Date.parse(iso);
    if (isNaN(moment)) return "";
    var delta = (moment - Date.now()) / 1000;
    var size = Math.abs(delta);
    if (size < 5) return t("rel_now");
    var amount, unit;
    if (size < 60) { amount = Math.round(size); unit = "unit_s"; }
    else if (size < 90 * 60) { amount = Math.round(size / 60); unit = "unit_min"; }
    else if (size < 36 * 3600) { amount = Math.round(size / 3600); unit = "unit_h"; }
    else { amount = Math.round(size / 86400); unit = "unit_d"; }
    return t(delta > 0 ? "rel_future" : "rel_past", { span: t(unit, { n: amount }) });
  }

  function elapsed(iso) {
    var start = Date.parse(iso);
    if (isNaN(start)) return "";
    var whole = Math.max(0, Math.floor((Date.now() - start) / 1000));
    var h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)), ss = String(s).padStart(2, "0");
    return h ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }

  function tickElapsed() {
    document.querySelectorAll("[data-since]").forEach(function (node) {
      var text = elapsed(node.getAttribute("data-since"));
      if (text && node.textContent !== text) node.textContent = text;
    });
  }

  function tickRelative() {
    document.querySelectorAll("[data-rel]").forEach(function (node) {
      var text = relative(node.getAttribute("data-rel"));
      if (text && node.textContent !== text) node.textContent = text;
    });
  }

  // -- toasts ------------------------------------------------------------------------------------------------

  var toasts = document.getElementById("toasts");

  function toast(message, ok, link) {
    if (!toasts) return;
    var node = document.createElement("div");
    node.className = "toast" + (ok ? " ok" : " error");
    node.textContent = message;
    if (link) {
      node.appendChild(document.createTextNode(" · "));
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      node.appendChild(a);
    }
    toasts.appendChild(node);
    setTimeout(function () { node.remove(); }, ok ? 5000 : 9000);
  }

  if (toasts) toasts.querySelectorAll(".toast").forEach(function (node) { setTimeout(function () { node.remove(); }, 6000); });

  // -- morph: update the page in place, keeping focus, typed input and open controls ---------------------------

  function sameNode(a, b) {
    if (a.nodeType !== b.nodeType) return false;
    if (a.nodeType !== 1) return true;
    return a.tagName === b.tagName && (a.id || "") === (b.id || "");
  }

  function syncAttributes(from, to) {
    var i, attr;
    for (i = from.attributes.length - 1; i >= 0; i--) {
      attr = from.attributes[i];
      if (!to.hasAttribute(attr.name) && attr.name !== "aria-busy") from.removeAttribute(attr.name);
    }
    for (i = 0; i < to.attributes.length; i++) {
      attr = to.attributes[i];
      if (from.getAttribute(attr.name) !== attr.value) from.setAttribute(attr.name, attr.value);
    }
    if (from.tagName === "INPUT" && from.type === "hidden" && from.value !== to.value) from.value = to.value;
  }

  function morph(from, to) {
    if (from.nodeType === 1 && from.hasAttribute("data-morph-skip")) return;
    syncAttributes(from, to);
    if (from.tagName === "TEMPLATE") {
      if (from.innerHTML !== to.innerHTML) from.innerHTML = to.innerHTML;
      return;
    }
    morphChildren(from, to);
  }

  function morphChildren(from, to) {
    var byId = new Map();
    Array.prototype.forEach.call(from.childNodes, function (node) { if (node.nodeType === 1 && node.id) byId.set(node.id, node); });
    var index = 0;
    Array.prototype.forEach.call(to.childNodes, function (wanted) {
      var current = from.childNodes[index] || null;
      if (wanted.nodeType === 1 && wanted.id && byId.has(wanted.id)) {
        var match = byId.get(wanted.id);
        if (match !== current) { from.insertBefore(match, current); current = match; }
      }
      if (current && sameNode(current, wanted)) {
        if (current.nodeType === 1) morph(current, wanted);
        else if (current.nodeValue !== wanted.nodeValue) current.nodeValue = wanted.nodeValue;
      } else {
        from.insertBefore(document.importNode(wanted, true), current);
      }
      index++;
    });
    while (from.childNodes.length > index) from.removeChild(from.lastChild);
  }

  // -- live refresh ------------------------------------------------------------------------------------------

  var main = document.getElementById("main");
  var live = body.getAttribute("data-live") === "on";
  var inFlight = false, dirty = false, busyActions = 0, refreshTimer = null;

  function goToLogin() { window.location.assign(root + "/login?next=" + encodeURIComponent(location.pathname + location.search)); }

  function refreshSoon(delay) {
    if (!live) return;
    if (refreshTimer) return;
    refreshTimer = setTimeout(function () { refreshTimer = null; refresh(); }, delay === undefined ? 120 : delay);
  }

  function refresh() {
    if (!live || !main) return Promise.resolve();
    if (inFlight || busyActions > 0) { dirty = true; return Promise.resolve(); }
    inFlight = true;
    dirty = false;
    return fetch(location.pathname + location.search, {
      headers: { "X-Jobdeck-Fragment": "main" }, credentials: "same-origin", cache: "no-store"
    }).then(function (response) {
      if (response.redirected && response.url.indexOf("/login") !== -1) { goToLogin(); return; }
      if (response.status === 401) { goToLogin(); return; }
      return response.text().then(function (html) {
        var holder = document.createElement("template");
        holder.innerHTML = html;
        var next = document.createElement("main");
        next.appendChild(holder.content);
        // A log tail scrolled to its end keeps following new lines.
        var following = Array.prototype.filter.call(document.querySelectorAll("[data-log-tail]"), function (pre) {
          return pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
        });
        morphChildren(main, next);
        following.forEach(function (pre) { pre.scrollTop = pre.scrollHeight; });
        tickElapsed();
        tickRelative();
        bindAll();
      });
    }).catch(function () { /* the connection state shows it; polling retries */ }).then(function () {
      inFlight = false;
      if (dirty) refreshSoon(150);
    });
  }

  // -- the event stream, with reconnection and a polling fallback --------------------------------------------

  var indicator = document.getElementById("live-state");
  var source = null, pollTimer = null, everConnected = false, reconnectTimer = null;

  function setState(state) {
    if (!indicator) return;
    indicator.setAttribute("data-state", state);
    var label = state === "live" ? t("live_on") : state === "polling" ? t("live_polling") : t("live_connecting");
    indicator.querySelector(".live-label").textContent = label;
    indicator.title = state === "live" ? t("live_on_hint") : state === "polling" ? t("live_polling_hint") : label;
  }

  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(function () { refresh(); }, 5000);
  }

  function stopPolling() {
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  function connect() {
    if (!live) return;
    if (!("EventSource" in window)) { setState("polling"); startPolling(); return; }
    source = new EventSource(root + "/api/scheduler/events", { withCredentials: true });
    source.addEventListener("hello", function () {
      setState("live");
      stopPolling();
      // After a reconnection (a server restart, a network blip) changes may have been missed: re-read now.
      if (everConnected) refreshSoon(0);
      everConnected = true;
    });
    source.addEventListener("change", function () { refreshSoon(); });
    source.onerror = function () {
      setState("polling");
      startPolling();
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        if (!reconnectTimer) reconnectTimer = setTimeout(function () { reconnectTimer = null; connect(); }, 5000);
      }
    };
  }

  // -- dialogs: confirmation, with the action's extra fields ---------------------------------------------------

  var dialog = document.getElementById("confirm-dialog");

  function confirmAction(form) {
    var title = form.getAttribute("data-confirm-title");
    if (!title || !dialog || typeof dialog.showModal !== "function") return Promise.resolve([]);
    dialog.querySelector(".dialog-title").textContent = title;
    dialog.querySelector(".dialog-message").textContent = form.getAttribute("data-confirm") || "";
    var okButton = dialog.querySelector("[data-dialog-ok]");
    okButton.textContent = form.getAttribute("data-confirm-ok") || t("confirm_button");
    var extra = dialog.querySelector(".dialog-extra");
    extra.innerHTML = "";
    var template = form.querySelector("template.extra");
    if (template) extra.appendChild(document.importNode(template.content, true));
    var opener = document.activeElement;
    return new Promise(function (resolve) {
      function done() {
        dialog.removeEventListener("close", done);
        var confirmed = dialog.returnValue === "ok";
        var fields = [];
        if (confirmed) {
          extra.querySelectorAll("input, textarea, select").forEach(function (input) {
            if ((input.type === "checkbox" || input.type === "radio") && !input.checked) return;
            fields.push([input.name, input.value]);
          });
        }
        extra.innerHTML = "";
        if (opener && typeof opener.focus === "function" && document.contains(opener)) opener.focus();
        resolve(confirmed ? fields : null);
      }
      dialog.returnValue = "";
      dialog.addEventListener("close", done);
      dialog.showModal();
      var first = extra.querySelector("input, textarea, select");
      (first || okButton).focus();
    });
  }

  if (dialog) {
    dialog.querySelector("[data-dialog-cancel]").addEventListener("click", function () { dialog.close("cancel"); });
  }

  // -- actions -----------------------------------------------------------------------------------------------

  function setBusy(form, button, busy) {
    var row = form.closest("[data-row]");
    var scope = row || form;
    if (busy) scope.setAttribute("aria-busy", "true"); else scope.removeAttribute("aria-busy");
    scope.querySelectorAll("button").forEach(function (b) { b.disabled = busy; });
    if (button) { if (busy) button.setAttribute("aria-busy", "true"); else button.removeAttribute("aria-busy"); }
  }

  function sendAction(form, button, extraFields) {
    var data = new FormData(form);
    extraFields.forEach(function (pair) { data.append(pair[0], pair[1]); });
    busyActions++;
    setBusy(form, button, true);
    return fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": body.getAttribute("data-csrf") || "" }
    }).then(function (response) {
      if (response.status === 401) { toast(t("js_session_expired"), false); setTimeout(goToLogin, 1200); return null; }
      return response.json().catch(function () { return { success: false, message: response.statusText }; });
    }).then(function (answer) {
      if (!answer) return;
      var link = null;
      if (answer.success && answer.data && answer.data.execution_id && answer.data.job_id) {
        link = { href: root + "/executions/" + answer.data.execution_id, text: t("js_open_run") };
      }
      toast(answer.message || "", !!answer.success, link);
      if (answer.success && form.hasAttribute("data-reload")) { window.location.reload(); return; }
      if (answer.success && form.hasAttribute("data-remove-row") && answer.data &&
          location.pathname === root + "/executions/" + answer.data.execution_id) {
        window.location.assign(root + "/executions");
      }
    }).catch(function () {
      toast(t("js_network_error"), false);
    }).then(function () {
      busyActions--;
      if (document.contains(form)) setBusy(form, button, false);
      refresh();
    });
  }

  function bindActions(scope) {
    scope.querySelectorAll("form[data-action]").forEach(function (form) {
      if (form.__jdBound) return;
      form.__jdBound = true;
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var button = event.submitter || form.querySelector("button[type=submit]");
        if (form.closest("[aria-busy=true]")) return;
        confirmAction(form).then(function (fields) {
          if (fields === null) return;
          sendAction(form, button, fields);
        });
      });
    });
  }

  // -- filter forms: apply as you type, keep the URL shareable -------------------------------------------------

  function bindFilters(scope) {
    scope.querySelectorAll("form[data-filter-form]").forEach(function (form) {
      if (form.__jdBound) return;
      form.__jdBound = true;
      var timer = null;
      function apply() {
        var params = new URLSearchParams();
        new FormData(form).forEach(function (value, name) { if (value !== "") params.append(name, String(value)); });
        var query = params.toString();
        var target = new URL(form.action, location.href).pathname + (query ? "?" + query : "");
        history.replaceState(null, "", target);
        refresh();
      }
      form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
      form.addEventListener("change", function () { clearTimeout(timer); apply(); });
      form.addEventListener("input", function (event) {
        if (event.target.type !== "search" && event.target.type !== "text") return;
        clearTimeout(timer);
        timer = setTimeout(apply, 250);
      });
    });
  }

  // -- the schedule editor: validate as you type, preview the next fire times ---------------------------------

  function formatFire(iso) {
    var match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.exec(iso);
    if (!match) return iso;
    return match[1] + " " + match[2] + " " + (match[3] === "Z" ? "+00:00" : match[3]);
  }

  function bindScheduleEditor(scope) {
    scope.querySelectorAll("form[data-schedule-editor]").forEach(function (form) {
      if (form.__jdEditor) return;
      form.__jdEditor = true;
      form.setAttribute("data-reload", "");
      var input = form.querySelector("input[name=schedule]");
      var feedback = form.querySelector(".schedule-feedback");
      var save = form.querySelector("[data-control=save-schedule]");
      var current = form.getAttribute("data-current") || "";
      var timer = null, seq = 0;

      function show(nodes) {
        feedback.innerHTML = "";
        nodes.forEach(function (node) { feedback.appendChild(node); });
      }
      function line(text, className) {
        var node = document.createElement("div");
        node.textContent = text;
        if (className) node.className = className;
        return node;
      }

      function check() {
        var value = input.value.trim();
        var mine = ++seq;
        if (!value) { input.setAttribute("aria-invalid", "true"); save.disabled = true; return; }
        feedback.setAttribute("aria-busy", "true");
        var url = root + "/api/scheduler/schedules/preview?" + new URLSearchParams({
          schedule: value, timezone: form.getAttribute("data-timezone") || "UTC", language: lang
        }).toString();
        fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (response) {
          return response.json().then(function (answer) { return { status: response.status, answer: answer }; });
        }).then(function (result) {
          if (mine !== seq) return;
          feedback.removeAttribute("aria-busy");
          var answer = result.answer;
          if (result.status === 200 && answer.success) {
            var data = answer.data;
            input.setAttribute("aria-invalid", "false");
            var nodes = [line(t("js_schedule_valid") + " · " + data.description, "ok")];
            if (data.next_run_times.length) {
              nodes.push(line(t("js_next_fire_times"), "muted small"));
              var list = document.createElement("ol");
              list.className = "num preview-times";
              data.next_run_times.forEach(function (iso) {
                var item = document.createElement("li");
                item.textContent = formatFire(iso);
                list.appendChild(item);
              });
              nodes.push(list);
            } else {
              nodes.push(line(t("js_no_fire_times"), "muted small"));
            }
            if (value === current) nodes.push(line(t("js_schedule_unchanged"), "muted small"));
            show(nodes);
            save.disabled = value === current;
          } else if (result.status === 401) {
            goToLogin();
          } else {
            input.setAttribute("aria-invalid", "true");
            var errors = answer && answer.data && answer.data.errors;
            var message = errors && errors.length ? errors[0].message : (answer && answer.message) || "";
            show([line(message, "error-text")]);
            save.disabled = true;
          }
        }).catch(function () {
          if (mine !== seq) return;
          feedback.removeAttribute("aria-busy");
          show([line(t("js_network_error"), "error-text")]);
        });
      }

      input.addEventListener("input", function () {
        clearTimeout(timer);
        save.disabled = true;
        timer = setTimeout(check, 250);
      });
      check();
    });
    scope.querySelectorAll(".revert-form").forEach(function (form) { form.setAttribute("data-reload", ""); });
  }

  function bindAll() {
    bindActions(document);
    bindFilters(document);
    bindScheduleEditor(document);
  }

  bindAll();
  tickElapsed();
  tickRelative();
  setInterval(tickElapsed, 1000);
  setInterval(tickRelative, 15000);
  if (live) {
    connect();
    // Events are per process: a safety refresh covers changes made through another replica.
    setInterval(function () { refresh(); }, 30000);
  }
})();
