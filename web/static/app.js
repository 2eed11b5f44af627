// Progressive enhancement only: every page works without this script.
// The time-travel control gets a slider that moves through the log.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".travel-form").forEach(function (form) {
    var range = form.querySelector(".at-range");
    var input = form.querySelector(".at-input");
    if (!range || !input) return;
    range.hidden = false;
    range.tabIndex = 0;
    range.addEventListener("input", function () { input.value = range.value; });
    range.addEventListener("change", function () { form.submit(); });
  });
});
