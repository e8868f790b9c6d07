// Refreshes the dashboard's widgets in place; without JavaScript the page
// simply shows the numbers of its last load.
(function () {
  "use strict";
  var container = document.getElementById("dashboard");
  if (!container || !window.fetch) {
    return;
  }
  var url = container.dataset.refreshUrl;
  var seconds = parseInt(container.dataset.refreshSeconds, 10) || 60;

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "XMLHttpRequest" } })
      .then(function (response) {
        // A redirect means the session ended (login page): keep what is shown.
        if (!response.ok || response.redirected) {
          throw new Error("dashboard refresh: HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        container.innerHTML = html;
        container.classList.remove("refresh-failed");
        container.dataset.refreshedAt = new Date().toISOString();
      })
      .catch(function () {
        container.classList.add("refresh-failed");
      });
  }

  // A tab nobody looks at does not make the database count every minute.
  window.setInterval(function () {
    if (!document.hidden) {
      refresh();
    }
  }, seconds * 1000);
  container.addEventListener("dashboard:refresh", refresh);
})();
