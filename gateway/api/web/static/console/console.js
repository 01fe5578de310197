// Liaison console: live updates for a delivery in flight and a bulk replay. Everything
// works without it; it only saves pressing reload.
(function () {
  "use strict";
  var WAITING = ["pending", "in-flight", "retrying"];

  function poll(url, every, onData) {
    var timer = null;
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && onData(data) === false) { return; }
          timer = setTimeout(tick, every);
        })
        .catch(function () { timer = setTimeout(tick, every * 3); });
    }
    timer = setTimeout(tick, every);
    return function () { clearTimeout(timer); };
  }

  // A delivery page reloads itself when the delivery moves on, until it has settled.
  var delivery = document.getElementById("delivery");
  if (delivery && WAITING.indexOf(delivery.dataset.state) !== -1) {
    poll(delivery.dataset.stateUrl, 1000, function (data) {
      if (data.state !== delivery.dataset.state ||
          String(data.attempt_count) !== delivery.dataset.attempts) {
        window.location.reload();
        return false;
      }
      return true;
    });
  }

  // A replay page shows the batch's progress as it runs.
  var batch = document.getElementById("replay-batch");
  if (batch && batch.dataset.state === "running") {
    poll(batch.dataset.progressUrl, 1000, function (data) {
      document.getElementById("replay-count").textContent = data.replayed;
      document.getElementById("replay-total").textContent = data.total;
      document.getElementById("replay-state").textContent = data.state;
      var bar = document.getElementById("replay-progress");
      bar.max = Math.max(1, data.total);
      bar.value = data.replayed;
      bar.textContent = data.replayed + " of " + data.total;
      if (data.state !== "running") {
        var cancel = document.getElementById("cancel-form");
        if (cancel) { cancel.hidden = true; }
        return false;
      }
      return true;
    });
  }
}());
