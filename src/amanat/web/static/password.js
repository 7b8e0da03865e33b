// Progressive enhancement for password fields: a show/hide toggle and a strength meter.
// Forms work without it; the server checks every password in full. The meter shows the
// server's verdict (POST /api/v1/password-strength): one rule set, never a copy of it here.
(function () {
  "use strict";
  document.querySelectorAll("input[type=password][data-toggle]").forEach(function (input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = "Show";
    button.setAttribute("aria-label", "Show password");
    button.addEventListener("click", function () {
      var hidden = input.type === "password";
      input.type = hidden ? "text" : "password";
      button.textContent = hidden ? "Hide" : "Show";
      button.setAttribute("aria-label", hidden ? "Hide password" : "Show password");
    });
    input.insertAdjacentElement("afterend", button);
  });
  var meter = document.getElementById("strength");
  var label = document.getElementById("strength-label");
  var source = document.querySelector("input[data-strength]");
  if (!meter || !source) { return; }
  var timer = null;
  source.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      if (!source.value) { meter.value = 0; label.textContent = ""; return; }
      fetch("/api/v1/password-strength", {
        method: "POST",
        headers: {"content-type": "application/json"},
        body: JSON.stringify({password: source.value, two_factor: source.hasAttribute("data-two-factor")}),
        credentials: "same-origin"
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (result) {
        if (!result) { return; }
        // The server's verdict, by the same rules that setting the password enforces.
        if (!result.acceptable) {
          meter.value = Math.min(result.score, 2);
          label.textContent = "Not accepted: " + result.problems[0].message;
          return;
        }
        meter.value = result.score;
        label.textContent = "Accepted, " + result.label + (result.feedback.length ? ": " + result.feedback[0] : "");
      });
    }, 250);
  });
})();
