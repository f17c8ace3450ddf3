// Hotline console: keyboard shortcuts, canned replies, confirmations. No inline script anywhere
// (the Content-Security-Policy forbids it), so every behaviour hangs off data- attributes here.
(function () {
  "use strict";

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("a.row-link"));
  }

  function moveRow(step) {
    var links = rows();
    if (!links.length) return;
    var at = links.indexOf(document.activeElement);
    var next = at === -1 ? 0 : Math.min(links.length - 1, Math.max(0, at + step));
    links[next].focus();
  }

  function follow(selector) {
    var link = document.querySelector(selector);
    if (link) window.location.href = link.href;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var dialog = document.getElementById("shortcuts");
    switch (event.key) {
      case "n": follow('[data-shortcut="n"]'); break;
      case "j": moveRow(1); break;
      case "k": moveRow(-1); break;
      case "r": {
        var reply = document.getElementById("reply-body");
        if (reply) { reply.focus(); reply.scrollIntoView({ block: "center" }); }
        break;
      }
      case "a": {
        var assign = document.getElementById("assign-me");
        if (assign) assign.requestSubmit();
        break;
      }
      case "/": {
        var box = document.querySelector('[data-shortcut-focus="/"]');
        if (box) box.focus();
        break;
      }
      case "?": if (dialog && dialog.showModal) dialog.showModal(); break;
      default: return;
    }
    event.preventDefault();
  });

  // Ctrl+Enter sends the reply.
  document.addEventListener("keydown", function (event) {
    var el = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && el.hasAttribute && el.hasAttribute("data-submit-on-ctrl-enter")) {
      event.preventDefault();
      el.form.requestSubmit();
    }
  });

  // Choosing a canned reply puts its text in the reply box, to be edited before sending.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[data-canned-target]")) return;
    var option = select.options[select.selectedIndex];
    var target = document.getElementById(select.getAttribute("data-canned-target"));
    if (target && option && option.dataset.body) {
      target.value = target.value ? target.value + "\n\n" + option.dataset.body : option.dataset.body;
      target.focus();
    }
    select.selectedIndex = 0;
  });

  // Choosing a knowledge-base article puts its answer in the reply box too. Answers are long, so the
  // page carries only the titles and fetches the chosen answer from this console.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[data-article-target]")) return;
    var option = select.options[select.selectedIndex];
    var target = document.getElementById(select.getAttribute("data-article-target"));
    select.selectedIndex = 0;
    if (!target || !option || !option.dataset.url) return;
    fetch(option.dataset.url, { credentials: "same-origin", headers: { Accept: "text/plain" } })
      .then(function (response) {
        // A session that ended answers with the sign-in page: that is not an answer to insert.
        if (!response.ok || response.redirected) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (text) {
        target.value = target.value ? target.value + "\n\n" + text : text;
        target.focus();
      })
      .catch(function () {
        target.focus(); // the reply box stays as it was
      });
  });

  // Dangerous forms ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var question = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var back = event.target.closest && event.target.closest("[data-back]");
    if (back && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
})();

// Notifications (docs/console.md): while the page says so (data-notify-url on <body>, only for
// someone who switched them on), ask the console every few seconds how many new cases, messages
// and late cases there are since the last answer, and show a browser notification with a short
// sound. The answer holds counts only, so the notification can say nothing more. The cursor is
// kept per tab, so moving between pages does not lose what arrived meanwhile.
(function () {
  "use strict";
  var body = document.body;
  var url = body && body.getAttribute("data-notify-url");
  var KEY = "hotline-notify-cursor";

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-notify-permission]");
    if (!button || !("Notification" in window)) return;
    Notification.requestPermission().then(function (answer) {
      button.setAttribute("data-answer", answer);
    });
  });
  if (!url || !window.fetch) return;
  var every = Math.max(5, parseInt(body.getAttribute("data-notify-every"), 10) || 30) * 1000;

  function cursor() {
    try { return window.sessionStorage.getItem(KEY) || ""; } catch (e) { return ""; }
  }
  function keep(value) {
    try { window.sessionStorage.setItem(KEY, value); } catch (e) { /* private mode: per page then */ }
  }

  // A short two-tone chime drawn with WebAudio: nothing to load, from here or anywhere.
  function chime() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      var audio = new Context();
      [880, 660].forEach(function (pitch, i) {
        var tone = audio.createOscillator();
        var gain = audio.createGain();
        var start = audio.currentTime + i * 0.18;
        tone.frequency.value = pitch;
        gain.gain.setValueAtTime(0.15, start);
        gain.gain.exponentialRampToValueAtTime(0.001, start + 0.16);
        tone.connect(gain).connect(audio.destination);
        tone.start(start);
        tone.stop(start + 0.17);
      });
      window.setTimeout(function () { audio.close(); }, 1000);
    } catch (e) { /* no sound: the notification still shows */ }
  }

  function line(attribute, count) {
    return count > 0 ? (body.getAttribute(attribute) || "%s").replace("%s", String(count)) : null;
  }

  function announce(counts) {
    var lines = [
      line("data-notify-cases", counts.new_cases),
      line("data-notify-messages", counts.new_messages),
      line("data-notify-late", counts.over_target)
    ].filter(Boolean);
    if (!lines.length) return;
    if ("Notification" in window && Notification.permission === "granted") {
      new Notification(body.getAttribute("data-notify-title") || "", { body: lines.join("\n"), tag: "hotline-notify" });
    }
    chime();
  }

  function poll() {
    var since = cursor();
    fetch(url + (since ? "?since=" + encodeURIComponent(since) : ""), {
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Hotline-Poll": "1" }
    })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (counts) {
        keep(String(counts.cursor));
        announce(counts);
      })
      .catch(function () { /* signed out or offline: try again later */ })
      .then(function () { window.setTimeout(poll, every); });
  }
  poll();
})();
