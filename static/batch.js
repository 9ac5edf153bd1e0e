// Batch job page: poll the job's status, move the progress bar, reload the page when it ends.
(function () {
  "use strict";
  var box = document.getElementById("job-progress");
  if (!box) { return; }
  var bar = box.querySelector("progress");
  var text = box.querySelector(".progress-text");
  var number = new Intl.NumberFormat("ko-KR");

  function show(status) {
    bar.max = status.total || 1;
    bar.value = status.done;
    text.textContent = number.format(status.done) + " / " + number.format(status.total) +
      "행 분석함" + (status.state === "queued" ? " (차례를 기다리는 중)" : "");
  }

  function poll() {
    fetch(box.dataset.statusUrl, {headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (status) {
        if (status.state === "queued" || status.state === "running") {
          show(status);
          setTimeout(poll, 1000);
        } else {
          window.location.reload();  // done or failed: the page shows the summary or the error
        }
      })
      .catch(function () { setTimeout(poll, 3000); });  // a restart or a blip: keep trying
  }

  setTimeout(poll, 500);
})();
