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

/* The toolbar and the live preview (issue 32). Each button changes only what is selected (or
   inserts at the caret): lines the person did not touch are never rewritten. The preview is the
   server's own renderer, asked a moment after typing stops. Keyboard: Ctrl+B, Ctrl+I, Ctrl+K. */
(function () {
  "use strict";
  var area = document.getElementById("markdown");
  var bar = document.querySelector("[role=toolbar][aria-controls=markdown]");
  if (!area || !bar) { return; }
  bar.hidden = false;  // without this script the editor is the plain text area it always was

  function changed() { area.dispatchEvent(new Event("input", { bubbles: true })); }

  function replace(start, end, text, selectFrom, selectTo) {
    area.focus();
    area.setRangeText(text, start, end, "end");
    if (selectFrom !== undefined) { area.setSelectionRange(start + selectFrom, start + selectTo); }
    changed();
  }

  function wrap(mark, placeholder) {
    var s = area.selectionStart, e = area.selectionEnd;
    var inner = area.value.slice(s, e) || placeholder;
    replace(s, e, mark + inner + mark, mark.length, mark.length + inner.length);
  }

  function lineBounds() {
    var s = area.selectionStart, e = area.selectionEnd, v = area.value;
    var from = v.lastIndexOf("\n", s - 1) + 1;
    var to = v.indexOf("\n", e > s && v[e - 1] === "\n" ? e - 1 : e);
    return [from, to === -1 ? v.length : to];
  }

  function prefixLines(make) {
    var b = lineBounds(), lines = area.value.slice(b[0], b[1]).split("\n");
    var out = lines.map(function (line, i) { return make(i) + line.replace(/^(\s*)([-*+]|\d+[.)])\s+/, "$1"); });
    replace(b[0], b[1], out.join("\n"), 0, out.join("\n").length);
  }

  function block(text) {
    var s = area.selectionStart, v = area.value;
    var before = s > 0 && v[s - 1] !== "\n" ? "\n\n" : (s > 1 && v[s - 2] !== "\n" ? "\n" : "");
    replace(s, area.selectionEnd, before + text + "\n", before.length, before.length + text.length);
  }

  var actions = {
    heading: function () {
      var b = lineBounds(), line = area.value.slice(b[0], b[1]).replace(/^#+\s*/, "");
      replace(b[0], b[1], "## " + line, 3, 3 + line.length);
    },
    bold: function () { wrap("**", area.dataset.placeholder || "…"); },
    italic: function () { wrap("_", area.dataset.placeholder || "…"); },
    numbered: function () { prefixLines(function (i) { return (i + 1) + ". "; }); },
    bulleted: function () { prefixLines(function () { return "- "; }); },
    table: function (button) {
      var cells = (button.dataset.cells || "|").split("|");
      block("| " + cells.join(" | ") + " |\n|" + cells.map(function () { return "---"; }).join("|") + "|\n| " + cells.map(function () { return " "; }).join(" | ") + " |");
    },
    link: function () {
      var s = area.selectionStart, e = area.selectionEnd, text = area.value.slice(s, e) || "…";
      replace(s, e, "[" + text + "](https://)", text.length + 3, text.length + 11);
    },
    figure: function (button) { block("![" + (button.dataset.text || "") + "](" + "docctl-figure.png)"); }
  };

  bar.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-md]");
    if (button && actions[button.dataset.md]) { actions[button.dataset.md](button); }
  });
  area.addEventListener("keydown", function (event) {
    if (!(event.ctrlKey || event.metaKey) || event.altKey) { return; }
    var key = event.key.toLowerCase(), name = { b: "bold", i: "italic", k: "link" }[key];
    if (name) { event.preventDefault(); actions[name](); }
  });

  var target = document.getElementById("live-preview"), url = area.dataset.preview, timer = null, asked = 0;
  var form = area.form, token = form && form.querySelector("input[name=csrf_token]");
  if (!target || !url || !window.fetch) { return; }
  function render() {
    var mine = ++asked, body = new FormData();
    body.append("markdown", area.value);
    if (token) { body.append("csrf_token", token.value); }
    fetch(url, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) { if (html !== null && mine === asked) { target.innerHTML = html; } })
      .catch(function () { /* offline or logged out: the preview waits for the next keystroke */ });
  }
  area.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(render, 300); });
  if (!target.innerHTML.trim()) { render(); }
})();
