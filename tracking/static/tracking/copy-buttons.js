// Copy buttons of the admin's form pages (cards, brief): a `.rdz-copy` button
// copies its `data-copy` text, or the text of the element named by
// `data-target`, then shows the `.rdz-copied` mark beside it for 2 s.
(function () {
  "use strict";

  function fallbackCopy(text) {
    // navigator.clipboard needs a secure context (https or localhost).
    var area = document.createElement("textarea");
    area.value = text;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".rdz-copy");
    if (!button) return;
    var target = button.getAttribute("data-target");
    var text = target ? document.getElementById(target).textContent : button.getAttribute("data-copy");
    var copy = navigator.clipboard && window.isSecureContext
      ? navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); })
      : fallbackCopy(text);
    copy.then(function () {
      var done = button.parentNode.querySelector(".rdz-copied");
      done.hidden = false;
      done.setAttribute("data-copied", text);
      setTimeout(function () { done.hidden = true; }, 2000);
    });
  });
})();
