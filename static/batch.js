// Batch job pages: on the preview, keep the two sentence columns apart; while a job runs, poll
// its status, move the progress bar, and reload the page when it ends.
(function () {
  "use strict";

  // A column chosen for one sentence is not offered for the other: a pair of a sentence with
  // itself always looks alike. The server refuses it too; this only spares a round trip.
  function separateColumns(selects) {
    function update() {
      selects.forEach(function (select) {
        var others = selects.filter(function (other) { return other !== select; })
          .map(function (other) { return other.value; });
        Array.prototype.forEach.call(select.options, function (option) {
          option.disabled = option.value !== "" && others.indexOf(option.value) !== -1;
        });
      });
    }
    selects.forEach(function (select) { select.addEventListener("change", update); });
    update();
  }

  function watchProgress(box) {
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
  }

  var selects = Array.prototype.slice.call(document.querySelectorAll("select.column-choice"));
  if (selects.length > 1) { separateColumns(selects); }
  var box = document.getElementById("job-progress");
  if (box) { watchProgress(box); }
})();
