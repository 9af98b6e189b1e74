// The chat page: wires the composer, the toolbar, the messages and the side
// bar to the modules that do the work. Keyboard: Enter sends, Shift+Enter is
// a new line, Esc stops the answer being written, else the voice reading one aloud.

import { Account } from "./account.js";
import { SERVICES, getJson, isAbort, postJson } from "./api.js";
import { ask, history } from "./ask.js";
import { speakable } from "./markdown.js";
import { Sidebar } from "./sidebar.js";
import * as status from "./status.js";
import * as store from "./store.js";
import { showConversation, updateMessage } from "./view.js";
import { speak, speaking, stopSpeaking } from "./voice.js";

const $ = (id) => document.getElementById(id);
const page = {
  messages: $("messages"), prompt: $("prompt"), composer: $("composer"), send: $("send"), stop: $("stop"),
  model: $("model"), consensus: $("consensus-toggle"), mcp: $("mcp-toggle"), notice: $("notice"),
  noticeText: $("notice-text"), status: $("status"),
};
let conversation = store.get(store.currentId()) || store.create();
let running = null;  // the AbortController of the answer being written

function notify(text, { error = false } = {}) {
  page.noticeText.textContent = text;
  page.notice.dataset.kind = error ? "error" : "info";
  page.notice.hidden = false;
}

const account = new Account($("account"), (text) => notify(text));
const sidebar = new Sidebar($("conversations"), {
  onOpen: (id) => open(store.get(id)),
  onDeleted: (id) => (id === conversation.id ? open(store.create()) : sidebar.show(conversation.id)),
});

function open(chosen) {
  if (running) {
    running.abort();
  }
  conversation = chosen || store.create();
  store.setCurrent(conversation.id);
  showConversation(page.messages, conversation);
  sidebar.show(conversation.id);
  page.prompt.focus();
}

function articleOf(index) {
  return page.messages.querySelector(`article[data-index="${index}"]`);
}

async function send(text) {
  text = text.trim();
  if (!text || running) {
    return;
  }
  const current = conversation;  // the page may open another one while this answer is written
  const past = history(current.messages);
  current.messages.push({ role: "user", content: text });
  const answer = { role: "assistant", content: "", state: "streaming", model: page.model.value || "" };
  current.messages.push(answer);
  store.save(current);
  store.setCurrent(current.id);
  showConversation(page.messages, current);
  sidebar.show(current.id);
  const article = articleOf(current.messages.length - 1);
  page.prompt.value = "";
  setRunning(new AbortController());
  // Leaving the page mid-answer stops it and keeps what arrived.
  const controller = running;
  const keepSoFar = () => {
    controller.abort();
    answer.state = "stopped";
    store.save(current);
  };
  // beforeunload: before the browser cuts the stream (mobile browsers may only send pagehide).
  window.addEventListener("beforeunload", keepSoFar);
  window.addEventListener("pagehide", keepSoFar);
  let frame = 0;
  const onChange = () => {
    frame = frame || window.requestAnimationFrame(() => {
      frame = 0;
      updateMessage(article, answer);
      article.scrollIntoView({ block: "end" });
    });
  };
  try {
    await ask(answer, text, {
      history: past, model: page.model.value, consensus: page.consensus.checked, mcp: page.mcp.checked,
      signal: running.signal, onChange, onNotice: (message) => notify(message, { error: true }),
    });
    answer.state = "done";
    status.recheckIfNotAllOk(page.status);
  } catch (error) {
    answer.state = isAbort(error) ? "stopped" : "error";
    if (!isAbort(error)) {
      answer.error = error.message;
      status.checkAll(page.status);
    }
  } finally {
    window.removeEventListener("beforeunload", keepSoFar);
    window.removeEventListener("pagehide", keepSoFar);
    window.cancelAnimationFrame(frame);
    setRunning(null);
    store.save(current);
    updateMessage(article, answer);
    sidebar.show(conversation.id);
    page.prompt.focus();
  }
}

function setRunning(controller) {
  running = controller;
  page.send.hidden = Boolean(controller);
  page.stop.hidden = !controller;
  page.messages.setAttribute("aria-busy", controller ? "true" : "false");
}

function stop() {
  if (running) {
    running.abort();
  }
}

function regenerate(index) {
  const question = conversation.messages[index - 1];
  if (running || !question || question.role !== "user") {
    return;
  }
  conversation.messages.splice(index - 1);
  send(question.content);
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    const label = button.textContent;
    button.textContent = "¡Copiado!";
    window.setTimeout(() => { button.textContent = label; }, 2000);
  } catch {
    notify("El navegador no dejó copiar al portapapeles; selecciona el texto y cópialo a mano.", { error: true });
  }
}

async function saveToServer() {
  const pairs = store.exchanges(conversation);
  if (!pairs.length) {
    notify("Aún no hay ninguna respuesta que guardar en esta conversación.");
    return;
  }
  try {
    const saved = await postJson("chat", "save", { conversations: pairs, email: account.email() });
    notify(`Conversación guardada en el servidor (${saved.saved} mensajes, id ${saved.id}).`);
  } catch (error) {
    notify(error.message, { error: true });
  }
}

async function loadModels() {
  const chosen = window.localStorage.getItem("capibara6.model");
  try {
    const { models, current_model: current } = await getJson("chat", "models");
    page.model.replaceChildren(...models.map((model) => new Option(model.name, model.name)));
    const names = models.map((model) => model.name);
    page.model.value = names.includes(chosen) ? chosen : current;
  } catch (error) {
    page.model.replaceChildren(new Option("modelo por defecto del servidor", ""));
    notify(`No se pudo cargar la lista de modelos. ${error.message}`, { error: true });
  }
}

page.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  send(page.prompt.value);
});
page.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send(page.prompt.value);
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && running) {
    event.preventDefault();
    stop();
  } else if (event.key === "Escape" && speaking()) {
    event.preventDefault();
    stopSpeaking();
  }
});
page.stop.addEventListener("click", stop);
$("new-chat").addEventListener("click", () => open(store.create()));
$("save").addEventListener("click", saveToServer);
$("notice-close").addEventListener("click", () => { page.notice.hidden = true; });
page.model.addEventListener("change", () => window.localStorage.setItem("capibara6.model", page.model.value));
// A service config.js marks as not deployed has no control on the page.
page.consensus.closest("label").hidden = !SERVICES.consensus.enabled;
page.mcp.closest("label").hidden = !SERVICES.mcp.enabled;
for (const toggle of [page.consensus, page.mcp]) {
  toggle.checked = !toggle.closest("label").hidden &&
    window.localStorage.getItem(`capibara6.${toggle.id}`) === "on";
  toggle.addEventListener("change", () => window.localStorage.setItem(`capibara6.${toggle.id}`,
                                                                      toggle.checked ? "on" : "off"));
}
page.messages.addEventListener("click", (event) => {
  const target = event.target.closest("button");
  if (!target) {
    return;
  }
  if (target.classList.contains("copy-code")) {
    copy(target.closest(".code-block").querySelector("code").textContent, target);
    return;
  }
  const article = target.closest("article");
  const index = article ? Number(article.dataset.index) : -1;
  const message = conversation.messages[index];
  const actions = {
    suggest: () => { page.prompt.value = target.textContent; page.prompt.focus(); },
    copy: () => copy(message.content, target),
    regenerate: () => regenerate(index),
    speak: () => speak(speakable(message.content), article.querySelector("audio"), target)
      .catch((error) => notify(error.message, { error: true })),
  };
  const action = actions[target.dataset.action];
  if (action) {
    action();
  }
});

status.onHealth((service, state, body) => service === "auth" && account.health(state, body));
status.start(page.status);
account.load();
loadModels();
open(conversation);
