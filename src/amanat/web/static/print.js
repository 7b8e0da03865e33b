// The recovery codes page's "Print" button: shown only when scripts run (the page prints
// fine from the browser's menu without it). Loaded with the page's CSP nonce.
(function () {
  "use strict";
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });
})();
