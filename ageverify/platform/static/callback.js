// The age gate's callback page. The wallet sent the browser here with its
// answer in the URL fragment (which never reaches a server or its logs):
// read it, erase it at once, post it to the platform as JSON, and go where
// the platform says, or show why not.
"use strict";

(function () {
  const answer = new URLSearchParams(location.hash.slice(1));
  // Erase the fragment before anything else can read it (history, a reload).
  history.replaceState(null, "", location.pathname + location.search);

  const body = {};
  for (const member of ["presentation", "token", "error", "nonce"]) {
    if (answer.has(member)) {
      body[member] = answer.get(member);
    }
  }

  // A path on this site only: never "//host" or "/\host", which browsers
  // would read as another site.
  function isLocalPath(value) {
    return typeof value === "string" && /^\/(?![\/\\])[!-~]*$/.test(value) && !value.includes("\\");
  }

  function showError(code, description, next) {
    const box = document.getElementById("age-error");
    box.dataset.code = typeof code === "string" ? code : "unknown";
    document.getElementById("age-error-text").textContent =
      typeof description === "string" && description
        ? description
        : "Your proof of age could not be checked. Please try again.";
    if (isLocalPath(next)) {
      document.getElementById("age-error-back").setAttribute("href", next);
    }
    document.getElementById("age-status").hidden = true;
    box.hidden = false;
    document.getElementById("age-error-back").focus();
  }

  fetch(location.pathname, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
    redirect: "error",
  })
    .then(function (response) {
      return response.json().then(function (data) {
        return { ok: response.ok, data: data };
      });
    })
    .then(function (result) {
      const data = result.data || {};
      if (result.ok && isLocalPath(data.next)) {
        location.replace(data.next);
      } else {
        showError(data.code, data.description, data.next);
      }
    })
    .catch(function () {
      showError(
        "network-error",
        "The answer from your wallet could not be sent. Check your connection and try again.",
        null
      );
    });
})();
