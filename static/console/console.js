// Copy buttons: <button data-copy="#selector" hidden>. They stay hidden where the
// clipboard API is unavailable (plain-http origins other than localhost).
(function () {
  "use strict";

  function reveal(root) {
    if (!navigator.clipboard) return;
    root.querySelectorAll("[data-copy][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    reveal(document);
  });
  document.addEventListener("htmx:load", function (event) {
    reveal(event.detail.elt);
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
    });
  });
})();

// JSON editors: <textarea data-json> holding a JSON object. As the user types, the status line
// under it says whether the text parses; the server checks the JSON Schema itself on submit.
(function () {
  "use strict";

  function statusFor(textarea) {
    return document.querySelector('[data-json-status-for="' + textarea.id + '"]');
  }

  function check(textarea) {
    var status = statusFor(textarea);
    if (!status) return;
    var text = textarea.value.trim();
    var problem = null;
    if (text) {
      try {
        var value = JSON.parse(text);
        if (value === null || typeof value !== "object" || Array.isArray(value)) {
          problem = "Must be a JSON object: { … }.";
        }
      } catch (error) {
        problem = "Not valid JSON: " + error.message;
      }
    }
    status.hidden = !text;
    status.textContent = problem || "Valid JSON.";
    status.classList.toggle("json-bad", !!problem);
    status.classList.toggle("json-ok", !problem);
    if (problem) {
      textarea.setAttribute("aria-invalid", "true");
    } else if (!textarea.closest(".field-invalid")) {
      // A server-side error stays marked until the form is sent again.
      textarea.removeAttribute("aria-invalid");
    }
  }

  function checkAll(root) {
    root.querySelectorAll("textarea[data-json]").forEach(check);
  }

  var timers = new WeakMap();
  document.addEventListener("input", function (event) {
    var textarea = event.target;
    if (!(textarea instanceof HTMLTextAreaElement) || !textarea.hasAttribute("data-json")) return;
    clearTimeout(timers.get(textarea));
    timers.set(textarea, setTimeout(function () { check(textarea); }, 150));
  });
  document.addEventListener("DOMContentLoaded", function () {
    checkAll(document);
  });
  document.addEventListener("htmx:load", function (event) {
    checkAll(event.detail.elt);
  });
})();

// A form sent with htmx comes back in place with its errors; take the user to the first one,
// which may be far above the submit button they just pressed.
document.addEventListener("htmx:afterSwap", function (event) {
  "use strict";
  var invalid = event.detail.elt.querySelector('[aria-invalid="true"]');
  if (!invalid && event.detail.elt.parentElement) {
    invalid = event.detail.elt.parentElement.querySelector('[aria-invalid="true"]');
  }
  if (invalid) {
    invalid.focus({ preventScroll: true });
    invalid.scrollIntoView({ block: "center" });
  }
});

// The screenshot lightbox works with CSS alone (:target); with scripts, Escape closes it too.
document.addEventListener("keydown", function (event) {
  "use strict";
  if (event.key !== "Escape") return;
  var open = document.querySelector(".lightbox:target");
  if (open) {
    var close = open.querySelector('a[href="#gallery"]');
    if (close) close.click();
  }
});
