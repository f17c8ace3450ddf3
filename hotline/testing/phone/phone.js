// Simulated phone for the local Telegram emulator: plays one user through the /_emulator/ control API.
// No external resources; every element is built with textContent, so bot texts can never inject markup.
"use strict";

(() => {
  const API = "/_emulator/";
  const POLL_MS = 700;
  const USER_KEY = "hotline-phone-user-id";
  const LANG_KEY = "hotline-phone-lang";
  const LANGUAGES = ["ru", "uk", "en"];
  const KIND_LABELS = {
    photo: "Photo",
    voice: "Voice message",
    video_note: "Video message",
    document: "Document",
    location: "Location",
    contact: "Contact",
    sticker: "Sticker",
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    who: $("who"),
    lang: $("lang"),
    newUser: $("new-user"),
    chat: $("chat"),
    empty: $("empty"),
    startBig: $("start-big"),
    messages: $("messages"),
    status: $("status"),
    replyKeys: $("reply-keys"),
    photo: $("photo"),
    block: $("block"),
    form: $("form"),
    text: $("text"),
    send: $("send"),
  };

  const state = {
    userId: null,
    blocked: false,
    seenIds: new Set(),
    notes: [], // {key, count}: client-side "messages deleted by the bot" lines, placed by message id
    lastRendered: "",
    lastKeys: "",
    pendingSince: null,
    pollTimer: null,
    pollFailures: 0,
  };

  class ControlError extends Error {}

  async function call(action, args) {
    let response;
    try {
      response = await fetch(API + action, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(args || {}),
        cache: "no-store",
      });
    } catch (error) {
      throw new Error("Cannot reach the emulator");
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch (error) {
      throw new Error(`The emulator answered HTTP ${response.status}`);
    }
    if (!answer.ok) {
      throw new ControlError(answer.description || `HTTP ${response.status}`);
    }
    return answer.result;
  }

  // ------------------------------------------------------------------ status line and toast
  let statusTimer = null;
  function showStatus(text, isError = false, sticky = false) {
    el.status.textContent = text;
    el.status.classList.toggle("error", isError);
    clearTimeout(statusTimer);
    if (text && !sticky) {
      statusTimer = setTimeout(() => showStatus(""), isError ? 6000 : 3000);
    }
  }

  const toast = document.createElement("div");
  toast.className = "toast";
  toast.hidden = true;
  toast.setAttribute("role", "alert");
  document.body.appendChild(toast);
  let toastTimer = null;
  function showToast(text, long = false) {
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, long ? 6000 : 2500);
  }
  toast.addEventListener("click", () => { toast.hidden = true; });

  // ------------------------------------------------------------------ the simulated user
  function chosenLanguage() {
    const stored = localStorage.getItem(LANG_KEY);
    return LANGUAGES.includes(stored) ? stored : "ru";
  }

  function resetChatState() {
    state.seenIds = new Set();
    state.notes = [];
    state.lastRendered = "";
    state.lastKeys = "";
    state.pendingSince = null;
    el.messages.replaceChildren();
    el.replyKeys.replaceChildren();
    el.replyKeys.hidden = true;
  }

  function showUser(user) {
    state.userId = user.id;
    state.blocked = Boolean(user.blocked);
    const lang = user.language_code || "?";
    if (LANGUAGES.includes(lang)) el.lang.value = lang;
    el.who.textContent = `User ${user.id} · ${lang}` + (state.blocked ? " · bot blocked" : "");
    el.block.textContent = state.blocked ? "Unblock" : "Block bot";
    el.block.title = state.blocked ? "Unblock the bot (a my_chat_member update)" : "Block the bot (a my_chat_member update)";
    for (const control of [el.text, el.send, el.photo, el.startBig, ...document.querySelectorAll("[data-command]")]) {
      control.disabled = state.blocked;
    }
    if (state.blocked) showStatus("You blocked the bot. Press Unblock to write again.", false, true);
  }

  async function createUser(language) {
    const user = await call("add_user", { first_name: "Demo", language_code: language });
    localStorage.setItem(USER_KEY, String(user.id));
    localStorage.setItem(LANG_KEY, language);
    resetChatState();
    showUser(user);
    return user;
  }

  async function loadUser() {
    const stored = Number.parseInt(localStorage.getItem(USER_KEY) || "", 10);
    if (Number.isSafeInteger(stored) && stored > 0) {
      try {
        showUser(await call("user", { user_id: stored }));
        return;
      } catch (error) {
        if (!(error instanceof ControlError)) throw error; // unreachable emulator: let the caller retry
      }
    }
    await createUser(chosenLanguage());
  }

  async function refreshUser() {
    showUser(await call("user", { user_id: state.userId }));
  }

  // ------------------------------------------------------------------ rendering
  function timeOf(seconds) {
    const date = new Date(seconds * 1000);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function node(tag, className, text) {
    const item = document.createElement(tag);
    if (className) item.className = className;
    if (text !== undefined && text !== null) item.textContent = text;
    return item;
  }

  function renderKeyboard(message) {
    const rows = (message.reply_markup && message.reply_markup.inline_keyboard) || [];
    if (!rows.length) return null;
    const keyboard = node("div", "keyboard");
    for (const row of rows) {
      const line = node("div", "row");
      for (const button of row) {
        const key = node("button", null, button.text);
        key.type = "button";
        if (typeof button.callback_data === "string") {
          key.addEventListener("click", () => pressButton(message.message_id, button, key));
        } else if (typeof button.url === "string") {
          key.textContent = `${button.text} ↗`;
          key.title = button.url;
          key.addEventListener("click", () => showToast(`This button opens ${button.url}\n(not followed in the simulator)`, true));
        } else {
          key.disabled = true;
          key.title = "This kind of button is not simulated";
        }
        line.appendChild(key);
      }
      keyboard.appendChild(line);
    }
    return keyboard;
  }

  function renderMessage(message) {
    const item = node("li", `msg ${message.sender === "bot" ? "bot" : "user"}`);
    item.dataset.id = String(message.message_id);
    const bubble = node("div", "bubble");
    if (message.protect_content) bubble.classList.add("protected");
    if (message.kind !== "text") {
      bubble.appendChild(node("div", "kind", KIND_LABELS[message.kind] || message.kind));
    }
    const body = message.kind === "text" ? message.text : message.caption;
    if (body) bubble.appendChild(node("div", "text", body));
    const meta = node("div", "meta");
    if (message.protect_content) {
      const note = node("span", "flag protected-note", "protected content");
      note.title = "The bot sent this with protect_content: it cannot be forwarded or saved";
      meta.appendChild(note);
    }
    if (message.edited) meta.appendChild(node("span", "flag", "edited"));
    meta.appendChild(node("time", null, timeOf(message.date)));
    bubble.appendChild(meta);
    item.appendChild(bubble);
    const keyboard = renderKeyboard(message);
    if (keyboard) item.appendChild(keyboard);
    return item;
  }

  function deletedText(count) {
    return count === 1 ? "1 message deleted by the bot" : `${count} messages deleted by the bot`;
  }

  function renderChat(messages) {
    const ids = new Set(messages.map((m) => m.message_id));
    const removed = [...state.seenIds].filter((id) => !ids.has(id));
    if (removed.length) {
      const key = Math.min(...removed) - 0.5; // where the deleted messages were
      const between = (a, b) => messages.some((m) => m.message_id > Math.min(a, b) && m.message_id < Math.max(a, b));
      const adjacent = state.notes.find((note) => !between(note.key, key));
      if (adjacent) {
        adjacent.count += removed.length;
        adjacent.key = Math.min(adjacent.key, key);
      } else {
        state.notes.push({ key, count: removed.length });
      }
    }
    state.seenIds = ids;

    const snapshot = JSON.stringify([messages, state.notes]);
    if (snapshot === state.lastRendered) return;
    state.lastRendered = snapshot;

    const nearBottom = el.chat.scrollHeight - el.chat.scrollTop - el.chat.clientHeight < 80;
    const entries = [
      ...messages.map((m) => ({ key: m.message_id, make: () => renderMessage(m) })),
      ...state.notes.map((n) => ({ key: n.key, make: () => node("li", "note", deletedText(n.count)) })),
    ].sort((a, b) => a.key - b.key);
    el.messages.replaceChildren(...entries.map((entry) => entry.make()));
    el.empty.hidden = entries.length > 0;
    const last = messages[messages.length - 1];
    if (nearBottom || removed.length || (last && last.sender === "user")) {
      el.chat.scrollTop = el.chat.scrollHeight;
    }
  }

  function renderReplyKeyboard(rows) {
    const snapshot = JSON.stringify(rows);
    if (snapshot === state.lastKeys) return;
    state.lastKeys = snapshot;
    el.replyKeys.replaceChildren();
    el.replyKeys.hidden = !rows || !rows.length;
    for (const row of rows || []) {
      const line = node("div", "row");
      for (const text of row) {
        const key = node("button", null, text);
        key.type = "button";
        key.addEventListener("click", () => act(() => call("send_text", { user_id: state.userId, text })));
        line.appendChild(key);
      }
      el.replyKeys.appendChild(line);
    }
  }

  function renderPending(count) {
    if (!count) {
      state.pendingSince = null;
      if (el.status.dataset.pending) {
        delete el.status.dataset.pending;
        showStatus("");
      }
      return;
    }
    state.pendingSince = state.pendingSince || Date.now();
    if (Date.now() - state.pendingSince > 3000 && !state.blocked) {
      el.status.dataset.pending = "1";
      const updates = count === 1 ? "1 update" : `${count} updates`;
      showStatus(`The bot has not fetched ${updates} yet. Is the bot running?`, false, true);
    }
  }

  // ------------------------------------------------------------------ polling
  async function poll() {
    if (state.userId === null) return;
    const userId = state.userId;
    const [messages, keys, pending] = await Promise.all([
      call("chat", { user_id: userId }),
      call("reply_keyboard", { user_id: userId }),
      call("pending_updates"),
    ]);
    if (userId !== state.userId) return; // a new user was created meanwhile
    renderChat(messages);
    renderReplyKeyboard(keys);
    renderPending(pending.length);
  }

  async function pollLoop() {
    clearTimeout(state.pollTimer);
    let delay = POLL_MS;
    try {
      if (state.userId === null) await loadUser();
      await poll();
      if (state.pollFailures) showStatus("Connected to the emulator again.");
      state.pollFailures = 0;
    } catch (error) {
      state.pollFailures += 1;
      if (error instanceof ControlError && /no simulated user/.test(error.message)) {
        state.userId = null; // the emulator restarted and forgot the user: make a new one next time
        localStorage.removeItem(USER_KEY);
        showStatus("The emulator forgot this user (restarted?); creating a new one.", true);
      } else {
        showStatus(`${error.message}; retrying…`, true, true);
      }
      delay = Math.min(5000, POLL_MS * 2 ** Math.min(state.pollFailures, 3));
    }
    state.pollTimer = setTimeout(pollLoop, delay);
  }

  // ------------------------------------------------------------------ actions
  async function act(action, doneText) {
    try {
      const result = await action();
      if (doneText) showStatus(doneText);
      await poll();
      return result;
    } catch (error) {
      showStatus(error.message, true);
      return null;
    }
  }

  function sendCommand(command, args = "") {
    return act(() => call("send_command", { user_id: state.userId, command, args }));
  }

  async function sendTyped() {
    const text = el.text.value;
    if (!text.trim() || state.userId === null) return;
    setTextBox(""); // at once, so that typing on while this is sent is kept
    const command = /^\/(\S+)(?:\s+([\s\S]*))?$/.exec(text);
    const sent = command
      ? await sendCommand(command[1], command[2] || "")
      : await act(() => call("send_text", { user_id: state.userId, text }));
    if (sent === null && !el.text.value) setTextBox(text); // not sent: give the text back
    el.text.focus();
  }

  async function pressButton(messageId, button, key) {
    key.disabled = true;
    const update = await act(() =>
      call("press_button", { user_id: state.userId, message_id: messageId, data: button.callback_data, text: button.text })
    );
    key.disabled = false;
    const queryId = update && update.callback_query && update.callback_query.id;
    if (!queryId) return;
    for (let attempt = 0; attempt < 12; attempt += 1) { // the bot's answerCallbackQuery toast, if any
      await new Promise((resolve) => setTimeout(resolve, 250));
      const answer = await call("callback_answer", { callback_query_id: queryId }).catch(() => null);
      if (answer) {
        if (answer.text) showToast(answer.text, Boolean(answer.show_alert));
        return;
      }
    }
  }

  function makePhoto() {
    const canvas = document.createElement("canvas");
    canvas.width = 160;
    canvas.height = 120;
    const draw = canvas.getContext("2d");
    const hue = Math.floor(Math.random() * 360);
    draw.fillStyle = `hsl(${hue}, 55%, 70%)`;
    draw.fillRect(0, 0, 160, 120);
    draw.fillStyle = `hsl(${(hue + 180) % 360}, 45%, 35%)`;
    draw.beginPath();
    draw.arc(80, 60, 36, 0, 2 * Math.PI);
    draw.fill();
    draw.fillStyle = "#ffffff";
    draw.font = "14px sans-serif";
    draw.fillText(new Date().toLocaleTimeString(), 8, 112);
    return canvas.toDataURL("image/png").split(",", 2)[1];
  }

  async function sendPhoto() {
    const caption = el.text.value.trim();
    const args = { user_id: state.userId, data: makePhoto() };
    if (caption) {
      args.caption = caption;
      setTextBox("");
    }
    const sent = await act(() => call("send_photo", args));
    if (sent === null && caption && !el.text.value) setTextBox(caption);
  }

  async function toggleBlock() {
    const action = state.blocked ? "unblock_bot" : "block_bot";
    await act(() => call(action, { user_id: state.userId }));
    try {
      await refreshUser();
      if (!state.blocked) showStatus("Unblocked. A real client would now send /start; press /start to continue.");
    } catch (error) {
      showStatus(error.message, true);
    }
  }

  async function newUser(language) {
    try {
      await createUser(language);
      showStatus(`New simulated user (${language}). Press /start to begin.`);
      await poll();
    } catch (error) {
      showStatus(error.message, true);
    }
  }

  function setTextBox(text) {
    el.text.value = text;
    growTextBox();
  }

  function growTextBox() {
    el.text.style.height = "auto";
    el.text.style.height = `${Math.min(el.text.scrollHeight + 2, 160)}px`;
  }

  // ------------------------------------------------------------------ wiring
  el.lang.value = chosenLanguage();
  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    sendTyped();
  });
  el.text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendTyped();
    }
  });
  el.text.addEventListener("input", growTextBox);
  for (const chip of document.querySelectorAll("[data-command]")) {
    chip.addEventListener("click", () => sendCommand(chip.dataset.command));
  }
  el.startBig.addEventListener("click", () => sendCommand("start"));
  el.photo.addEventListener("click", sendPhoto);
  el.block.addEventListener("click", toggleBlock);
  el.newUser.addEventListener("click", () => newUser(el.lang.value));
  el.lang.addEventListener("change", () => newUser(el.lang.value));

  // ------------------------------------------------------------------ the Call tab: the hotline's phone line
  // The emulated call runs to its end at once: the keys are collected first, then POST /phone/call
  // answers with the transcript (what the caller heard, and what happened).
  const CALL_PATH = "/phone/call";
  const KEY_CHARS = /[^0-9*#,]/g;
  const tabs = [$("tab-chat"), $("tab-call")];
  const views = { "tab-chat": $("chat-view"), "tab-call": $("call-view") };
  const dialer = {
    info: $("call-info"),
    keys: $("keys"),
    back: $("key-back"),
    clear: $("key-clear"),
    message: $("leave-message"),
    dial: $("dial"),
    status: $("call-status"),
    transcript: $("transcript"),
  };

  function selectTab(tab, focus = false) {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      views[other.id].hidden = !selected;
    }
    if (focus) tab.focus();
  }

  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      event.preventDefault();
      selectTab(tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length], true);
    });
  }

  function setKeys(text) {
    dialer.keys.value = text.replace(KEY_CHARS, "").slice(0, 40);
  }

  for (const key of document.querySelectorAll("[data-key]")) {
    key.addEventListener("click", () => setKeys(dialer.keys.value + key.dataset.key));
  }
  dialer.keys.addEventListener("input", () => setKeys(dialer.keys.value));
  dialer.back.addEventListener("click", () => setKeys(dialer.keys.value.slice(0, -1)));
  dialer.clear.addEventListener("click", () => setKeys(""));

  async function phoneLine(body) {
    const options = body === undefined
      ? { cache: "no-store" }
      : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), cache: "no-store" };
    let response;
    try {
      response = await fetch(CALL_PATH, options);
    } catch (error) {
      throw new Error("Cannot reach the emulator");
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch (error) {
      throw new Error(`The emulator answered HTTP ${response.status}`);
    }
    if (!answer.ok) throw new Error(answer.description || `HTTP ${response.status}`);
    return answer.result;
  }

  function callStatus(text, isError = false) {
    dialer.status.textContent = text;
    dialer.status.classList.toggle("error", isError);
  }

  function transcriptLine(line) {
    const kind = ["heard", "pressed", "event", "error", "end"].includes(line.kind) ? line.kind : "event";
    const item = node("li", `line ${kind}`);
    if (kind === "heard") {
      if (line.leg === "operator") item.classList.add("operator");
      const who = line.leg === "operator" ? "The operator's phone hears" : "You hear";
      item.appendChild(node("span", "speaker", line.language ? `${who} (${line.language})` : who));
      const text = node("span", "said", line.text);
      if (line.language) text.lang = line.language;
      item.appendChild(text);
    } else {
      item.textContent = line.text;
    }
    return item;
  }

  async function placeHotlineCall() {
    dialer.dial.disabled = true;
    callStatus("Calling…");
    try {
      const result = await phoneLine({ keys: dialer.keys.value, message: dialer.message.checked });
      dialer.transcript.replaceChildren(...result.lines.map(transcriptLine));
      $("transcript-title").scrollIntoView({ block: "start" });
      callStatus(`Call over (${result.status}, ${result.seconds} s of simulated time).`);
    } catch (error) {
      callStatus(error.message, true);
    } finally {
      dialer.dial.disabled = false;
    }
  }

  dialer.dial.addEventListener("click", placeHotlineCall);
  phoneLine()
    .then((line) => {
      dialer.info.textContent =
        `You call the hotline at ${line.number} from ${line.caller}. The call runs to its end at once: ` +
        "key in what you will press during the call first (for example 3, then 4: English, then a voice message).";
    })
    .catch((error) => {
      callStatus(`${error.message}. Calls need hotline serve --demo.`, true);
      dialer.dial.disabled = true;
    });

  pollLoop();
})();
