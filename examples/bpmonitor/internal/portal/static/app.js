// openiomt portal: automatic logoff after the session's idle timeout.
// The server expires idle sessions on its own; this script makes the screen
// follow, so an unattended page does not keep showing PHI.
(function () {
  "use strict";
  var body = document.body;
  var idle = parseInt(body.getAttribute("data-idle-seconds") || "0", 10);
  var form = document.getElementById("logout-form");
  if (!idle || idle <= 0 || !form) { return; }
  // Sign out a second before the server would expire the session, so the
  // logout is still recorded against it.
  var deadline = Date.now() + Math.max(1, idle - 1) * 1000;
  var countdown = document.getElementById("idle-countdown");
  var done = false;
  function tick() {
    if (done) { return; }
    var left = Math.ceil((deadline - Date.now()) / 1000);
    if (left <= 0) {
      done = true;
      form.elements["reason"].value = "idle";
      form.submit();
      return;
    }
    if (countdown && left <= 60) {
      countdown.hidden = false;
      countdown.textContent = "Signing out in " + left + " s";
    }
    setTimeout(tick, Math.min(1000, Math.max(50, deadline - Date.now())));
  }
  tick();
})();
