// The periodic task form in the admin (templates/admin/djcelery/change_periodictask_form.html): as
// the crontab is chosen, its help says what it means in words. The read-only translation, which
// shows the saved crontab's, is hidden since the help does it live.
(function () {
  "use strict";
  var readable = JSON.parse(document.getElementById("readable-crontabs").textContent);
  var select = document.getElementById("id_crontab");
  var help = document.querySelector(".field-crontab .help");
  if (!select || !help) {
    return;
  }
  var original = help.textContent.trim();
  var translation = document.querySelector(".field-crontab_translation");
  if (translation) {
    translation.hidden = true;
  }
  function show() {
    var words = readable[select.value];
    help.textContent = original;
    if (words) {
      help.appendChild(document.createElement("br"));
      help.appendChild(document.createTextNode("Translation: " + words));
    }
  }
  select.addEventListener("change", show);
  show();
})();
