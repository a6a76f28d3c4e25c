/* docctl editor: the text being typed is kept in this browser until the server has it, so a
   session that expired meanwhile (or a closed tab) loses nothing. No network, no framework. */
(function () {
  "use strict";
  var area = document.querySelector("textarea[data-autosave]");
  if (!area || !window.localStorage) { return; }
  var key = "docctl:" + area.getAttribute("data-autosave");
  var saved = null;
  try { saved = JSON.parse(window.localStorage.getItem(key) || "null"); } catch (e) { saved = null; }
  if (saved && saved.text === area.value) {
    window.localStorage.removeItem(key);  // the server has this text now
  } else if (saved && saved.text) {
    var box = document.createElement("p");
    box.className = "warning";
    box.setAttribute("role", "status");
    box.textContent = area.getAttribute("data-restore-note") + " (" + saved.at + ") ";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = area.getAttribute("data-restore-label");
    button.addEventListener("click", function () {
      area.value = saved.text;
      box.remove();
      area.focus();
    });
    box.appendChild(button);
    area.parentNode.insertBefore(box, area);
  }
  area.addEventListener("input", function () {
    var now = new Date();
    window.localStorage.setItem(key, JSON.stringify({
      text: area.value,
      at: now.toLocaleDateString() + " " + now.toLocaleTimeString()
    }));
  });
})();
