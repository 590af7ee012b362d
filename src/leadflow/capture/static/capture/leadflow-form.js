/* leadflow embed: renders a leadflow form inside any page, or takes over an existing <form>.
 *   <div id="leadflow-form"></div>
 *   <script src="https://leadflow.example.com/static/capture/leadflow-form.js"
 *           data-form="KEY" data-target="#leadflow-form" async></script>
 * or  data-takeover="#my-form"  to post an existing form's inputs (named like the form's fields).
 * It fills the hidden attribution fields (UTM, click ids, referrer, landing page) and posts
 * cross-origin to leadflow; the site must be among the form's allowed origins. No dependencies. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.form) { return; }
  var base = new URL(script.src).origin;
  var key = script.dataset.form;
  var api = base + "/api/v1/forms/" + encodeURIComponent(key);
  var storeKey = "leadflow-visitor:" + base;
  var ATTRIBUTION = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "gclid", "fbclid", "msclkid"];

  function visitor() {
    try { return window.localStorage.getItem(storeKey) || ""; } catch (e) { return ""; }
  }
  function remember(token) {
    try { if (token) { window.localStorage.setItem(storeKey, token); } } catch (e) { /* storage off */ }
  }
  function attribution() {
    var params = new URLSearchParams(window.location.search);
    var values = { referrer: document.referrer || "", landing_page: window.location.href };
    ATTRIBUTION.forEach(function (name) { values[name] = params.get(name) || ""; });
    return values;
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text) { node.textContent = text; }
    return node;
  }
  function hidden(form, name, value) {
    var input = form.querySelector('input[type="hidden"][name="' + name + '"]') || el("input", { type: "hidden", name: name });
    input.value = value;
    form.appendChild(input);
  }

  function field(spec) {
    var id = "lf-" + key + "-" + spec.name;
    var wrap = el("div", { "class": "lf-field" });
    var input;
    if (spec.type === "checkbox") {
      var check = el("label", { "for": id });
      input = el("input", { type: "checkbox", id: id, name: spec.name, value: "yes" });
      check.appendChild(input);
      check.appendChild(document.createTextNode(" " + spec.label));
      wrap.appendChild(check);
      return wrap;
    }
    wrap.appendChild(el("label", { "for": id }, spec.label + (spec.required ? " *" : "")));
    if (spec.type === "textarea") {
      input = el("textarea", { id: id, name: spec.name, rows: "3" });
    } else if (spec.type === "select") {
      input = el("select", { id: id, name: spec.name });
      input.appendChild(el("option", { value: "" }));
      spec.choices.forEach(function (choice) { input.appendChild(el("option", { value: choice }, choice)); });
    } else {
      input = el("input", { id: id, name: spec.name, type: spec.type });
    }
    if (spec.required) { input.setAttribute("required", ""); }
    wrap.appendChild(input);
    return wrap;
  }

  function build(definition, target) {
    var form = el("form", { "class": "lf-form", novalidate: "" });
    form.appendChild(el("h2", {}, definition.title));
    if (definition.intro) { form.appendChild(el("p", {}, definition.intro)); }
    definition.fields.forEach(function (spec) { form.appendChild(field(spec)); });
    if (definition.consent_text) {
      var consent = el("label", { "class": "lf-consent" });
      consent.appendChild(el("input", { type: "checkbox", name: "consent", value: "yes" }));
      consent.appendChild(document.createTextNode(" " + definition.consent_text));
      form.appendChild(consent);
    }
    form.appendChild(el("button", { type: "submit" }, definition.submit_label));
    target.appendChild(form);
    return form;
  }

  function prepare(form, definition) {
    var values = attribution();
    Object.keys(values).forEach(function (name) { hidden(form, name, values[name]); });
    hidden(form, definition.token_name, definition.token);
    var trap = el("input", { type: "text", name: definition.honeypot, tabindex: "-1", autocomplete: "off", "aria-hidden": "true" });
    trap.style.cssText = "position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden";
    form.appendChild(trap);
    var status = el("div", { "class": "lf-status", role: "status", "aria-live": "polite" });
    form.appendChild(status);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {};
      new FormData(form).forEach(function (value, name) { body[name] = String(value); });
      body.lf_visitor = visitor();
      var button = form.querySelector('[type="submit"]');
      if (button) { button.disabled = true; }
      status.textContent = "Sending…";
      fetch(api + "/submissions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body)
      }).then(function (response) {
        return response.json().then(function (data) { return { status: response.status, data: data }; });
      }).then(function (result) {
        if (button) { button.disabled = false; }
        if (result.status === 201) {
          remember(result.data.visitor);
          if (result.data.redirect_url) { window.location.href = result.data.redirect_url; return; }
          var thanks = el("p", { "class": "lf-thanks", role: "status" }, result.data.thank_you);
          form.replaceWith(thanks);
          return;
        }
        var messages = Array.isArray(result.data.detail)
          ? result.data.detail.map(function (error) { return error.msg; })
          : [result.data.detail || "Something went wrong; please try again."];
        status.setAttribute("role", "alert");
        status.textContent = messages.join(" ");
      }).catch(function () {
        if (button) { button.disabled = false; }
        status.setAttribute("role", "alert");
        status.textContent = "The form could not be sent; please try again.";
      });
    });
  }

  fetch(api + "?visitor=" + encodeURIComponent(visitor()))
    .then(function (response) {
      if (!response.ok) { throw new Error("leadflow form " + key + " answered " + response.status); }
      return response.json();
    })
    .then(function (definition) {
      var form;
      if (script.dataset.takeover) {
        form = document.querySelector(script.dataset.takeover);
      } else {
        var target = script.dataset.target ? document.querySelector(script.dataset.target) : null;
        if (!target) {
          target = el("div");
          script.parentNode.insertBefore(target, script.nextSibling);
        }
        form = build(definition, target);
      }
      if (form) { prepare(form, definition); }
    })
    .catch(function (error) { if (window.console) { window.console.warn(error.message); } });
})();
