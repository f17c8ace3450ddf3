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
