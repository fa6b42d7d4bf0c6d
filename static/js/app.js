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

  // Forms that destroy something ask first (data-confirm; inline handlers are refused by the
  // Content-Security-Policy). Forms with hx-confirm are asked by HTMX instead.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset || !form.dataset.confirm || form.hasAttribute("hx-confirm")) return;
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Close an open <details> menu when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  // Thumbnails of the files chosen for upload, before they are sent.
  function addUploadPreview(root) {
    root.querySelectorAll('input[type="file"][accept^="image"]').forEach(function (input) {
      var preview = document.getElementById("upload-preview");
      if (!preview) return;
      input.addEventListener("change", function () {
        preview.innerHTML = "";
        Array.prototype.forEach.call(input.files, function (file) {
          var img = document.createElement("img");
          img.alt = file.name;
          img.src = URL.createObjectURL(file);
          preview.appendChild(img);
        });
      });
    });
  }

  // Shows only the fieldset that matches the chosen "kind" radio (once or recurring).
  function addKindSwitch(root) {
    var radios = root.querySelectorAll('input[type="radio"][name="kind"]');
    if (!radios.length) return;
    function update() {
      var checked = root.querySelector('input[type="radio"][name="kind"]:checked');
      document.querySelectorAll("[data-show-when]").forEach(function (section) {
        section.hidden = checked && section.dataset.showWhen !== checked.value;
      });
      var preset = document.getElementById("id_preset");
      var cron = document.getElementById("id_cron");
      if (preset && cron) cron.closest(".field").hidden = preset.value !== "custom";
    }
    radios.forEach(function (radio) { radio.addEventListener("change", update); });
    var preset = document.getElementById("id_preset");
    if (preset) preset.addEventListener("change", update);
    update();
  }

  // Sign-up sends the browser's time zone, so a new account shows times in the user's own zone.
  function addBrowserTimezone(root) {
    root.querySelectorAll("input[data-browser-timezone]").forEach(function (input) {
      try {
        var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
        if (zone) input.value = zone;
      } catch (error) { /* an old browser: the server keeps its default */ }
    });
  }

  // Calendar month: a click on a day's empty space creates a post that day, as its "+" link does
  // (the link is what keyboards and screen readers use).
  function addCalendarDayClick(root) {
    var month = root.matches && root.matches("[data-calendar-month]") ? root : root.querySelector("[data-calendar-month]");
    if (!month || month.dataset.ready) return;
    month.dataset.ready = "1";
    month.addEventListener("click", function (event) {
      if (event.target.closest("a, button, details, input, label, form")) return;
      var day = event.target.closest(".cal-day[data-new-url]");
      if (day) window.location.href = day.dataset.newUrl;
    });
  }

  // Calendar: drag a planned post to another hour (week) or day (month, keeping its time). The drop
  // posts to the same reschedule URL the "Undo", "Move anyway" and the pop-over's "Move" (the
  // keyboard's way) use.
  function addCalendarDrag(root) {
    var week = root.matches && root.matches("[data-calendar-week]") ? root : root.querySelector("[data-calendar-week]");
    var month = root.matches && root.matches("[data-calendar-month]") ? root : root.querySelector("[data-calendar-month]");
    if (week) {
      var morning = week.querySelector("#cal-morning");
      if (morning && !week.dataset.scrolled) { week.scrollTop = morning.offsetTop - 40; week.dataset.scrolled = "1"; }
      wireDrag(week, "td.cal-slot:not(.past)", "week", function (slot) { return slot.dataset.at; });
    }
    if (month) {
      wireDrag(month, ".cal-day[data-day]", "month", function (day, entry) { return day.dataset.day + "T" + entry.dataset.time; });
    }
  }

  function wireDrag(container, targets, view, timeFor) {
    var dragged = null;
    container.querySelectorAll("details[draggable=true]").forEach(function (entry) {
      entry.addEventListener("dragstart", function (event) {
        dragged = entry;
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", entry.dataset.moveUrl);
      });
      entry.addEventListener("dragend", function () { dragged = null; });
    });
    container.querySelectorAll(targets).forEach(function (target) {
      target.addEventListener("dragover", function (event) {
        if (!dragged) return;
        event.preventDefault();
        target.classList.add("drop-target");
      });
      target.addEventListener("dragleave", function () { target.classList.remove("drop-target"); });
      target.addEventListener("drop", function (event) {
        target.classList.remove("drop-target");
        if (!dragged) return;
        event.preventDefault();
        var entry = dragged;
        dragged = null;
        htmx.ajax("POST", entry.dataset.moveUrl, { source: target, target: "#calendar", values: { at: timeFor(target, entry), view: view } });
      });
    });
  }

  // Post preview carousels: the arrows scroll one image, the dots follow.
  function addCarousels(root) {
    root.querySelectorAll("[data-carousel]:not([data-ready])").forEach(function (carousel) {
      carousel.dataset.ready = "1";
      var track = carousel.querySelector(".ig-track");
      var dots = carousel.querySelectorAll(".ig-dots span");
      carousel.querySelectorAll(".ig-arrow").forEach(function (arrow) {
        arrow.addEventListener("click", function () {
          track.scrollBy({ left: track.clientWidth * parseInt(arrow.dataset.step, 10), behavior: "smooth" });
        });
      });
      track.addEventListener("scroll", function () {
        var index = Math.round(track.scrollLeft / Math.max(track.clientWidth, 1));
        dots.forEach(function (dot, i) { dot.classList.toggle("on", i === index); });
      });
    });
  }

  // A table wider than the screen scrolls inside its wrapper: the wrapper then takes the
  // keyboard's focus (the arrow keys scroll it) and is named as a region after the table's first
  // header. Checked again when the window's width changes.
  function markScrollable(wrap) {
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      var header = wrap.querySelector("caption, th");
      wrap.tabIndex = 0;
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", "Table" + (header ? ": " + header.textContent.trim() : "") + ", scrolls sideways");
    } else if (wrap.hasAttribute("tabindex")) {
      wrap.removeAttribute("tabindex");
      wrap.removeAttribute("role");
      wrap.removeAttribute("aria-label");
    }
  }

  function addScrollableTables(root) {
    root.querySelectorAll(".table-wrap").forEach(markScrollable);
  }

  var resized;
  window.addEventListener("resize", function () {
    clearTimeout(resized);
    resized = setTimeout(function () { addScrollableTables(document); }, 150);
  });

  // A hashtag group's button adds its tags to the hashtags field, each once (as the server
  // normalises them: # optional, case-insensitive), and tells the caption counter.
  function addHashtagGroups(root) {
    root.querySelectorAll("[data-hashtags-target]").forEach(function (box) {
      var field = document.getElementById(box.dataset.hashtagsTarget);
      if (!field) return;
      box.querySelectorAll("button[data-hashtags]").forEach(function (button) {
        button.addEventListener("click", function () {
          var words = field.value.split(/[\s,]+/).filter(Boolean);
          var seen = new Set(words.map(function (word) { return word.replace(/^#+/, "").toLowerCase(); }));
          button.dataset.hashtags.split(/\s+/).filter(Boolean).forEach(function (tag) {
            var key = tag.replace(/^#+/, "").toLowerCase();
            if (key && !seen.has(key)) { seen.add(key); words.push(tag); }
          });
          field.value = words.join(" ");
          field.dispatchEvent(new Event("input", { bubbles: true }));
          field.focus();
        });
      });
    });
  }

  function enhance(root) {
    addHashtagGroups(root);
    addScrollableTables(root);
    addCalendarDrag(root);
    addCalendarDayClick(root);
    addCarousels(root);
    addBrowserTimezone(root);
    addKindSwitch(root);
    addPasswordToggles(root);
    addUploadPreview(root);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { if (event.target !== document.body) enhance(event.target); });
})();
