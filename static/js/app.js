// Progressive enhancements; every page works without them.
(function () {
  "use strict";

  // A show/hide toggle beside every password field, including ones HTMX swaps in later.
  function addPasswordToggles(root) {
    root.querySelectorAll('input[type="password"]:not([data-toggle-ready])').forEach(function (input) {
      input.dataset.toggleReady = "1";
      var wrap = document.createElement("span");
      wrap.className = "password-wrap";
      input.parentNode.insertBefore(wrap, input);
      wrap.appendChild(input);
      var button = document.createElement("button");
      button.type = "button";
      button.className = "password-toggle";
      button.textContent = "Show";
      button.setAttribute("aria-label", "Show password");
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", function () {
        var showing = input.type === "text";
        input.type = showing ? "password" : "text";
        button.textContent = showing ? "Show" : "Hide";
        button.setAttribute("aria-label", showing ? "Show password" : "Hide password");
        button.setAttribute("aria-pressed", showing ? "false" : "true");
      });
      wrap.appendChild(button);
    });
  }

  // Close an open <details> menu when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  document.addEventListener("DOMContentLoaded", function () { addPasswordToggles(document); });
  document.addEventListener("htmx:load", function (event) { addPasswordToggles(event.target); });
})();
