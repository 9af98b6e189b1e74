// The messages on screen. Text from people and models goes in with
// textContent, or through markdown.render(), which escapes it first.

import { SERVICES } from "./api.js";
import { render } from "./markdown.js";

const METHODS = { vote: "votación", weighted: "votación ponderada", synthesis: "síntesis", first: "la más rápida" };

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function button(action, label, title) {
  const node = element("button", "action", label);
  node.type = "button";
  node.dataset.action = action;
  node.title = title;
  return node;
}

/** Every message of the conversation, or the welcome when it has none. */
export function showConversation(container, conversation) {
  container.replaceChildren();
  const messages = conversation ? conversation.messages : [];
  if (!messages.length) {
    container.append(welcome());
    return;
  }
  messages.forEach((message, index) => container.append(messageElement(message, index)));
}

function welcome() {
  const box = element("div", "welcome");
  box.append(element("h2", "", "¿En qué puedo ayudarte?"));
  box.append(element("p", "", "Pregunta lo que quieras. Las respuestas llegan mientras se escriben; " +
    "Esc las detiene. Con «Consenso» responden varios modelos a la vez y con «Contexto» se " +
    "añaden tus documentos a la pregunta."));
  const ideas = element("div", "ideas");
  for (const idea of ["Explícame qué es un capibara", "Escribe una función en Python que invierta una cadena",
                      "Resume las ventajas de la energía solar"]) {
    const suggestion = button("suggest", idea, "Usar esta pregunta");
    ideas.append(suggestion);
  }
  box.append(ideas);
  return box;
}

export function messageElement(message, index) {
  const article = element("article", `message ${message.role}`);
  article.dataset.index = String(index);
  const meta = element("header", "meta");
  meta.append(element("span", "who", message.role === "user" ? "Tú" : "Capibara6"));
  meta.append(element("span", "model"));
  article.append(meta);
  const bubble = element("div", "bubble");
  article.append(bubble);
  if (message.role === "user") {
    bubble.append(element("p", "plain", message.content));
    return article;
  }
  bubble.append(element("div", "sources"));
  bubble.append(element("p", "combined-label", "Respuesta combinada"));
  bubble.append(element("div", "content markdown"));
  bubble.append(element("section", "consensus"));
  const error = element("p", "error");
  error.setAttribute("role", "alert");
  bubble.append(error);
  const actions = element("div", "actions");
  actions.append(button("copy", "Copiar", "Copiar la respuesta"),
                 button("regenerate", "Regenerar", "Pedir otra respuesta a la misma pregunta"));
  if (SERVICES.tts.enabled) {
    const audio = element("audio", "speech");
    audio.controls = true;
    audio.hidden = true;
    actions.append(button("speak", "Escuchar", "Leer la respuesta en voz alta"), audio);
  }
  article.append(actions);
  updateMessage(article, message);
  return article;
}

/** Bring an assistant message's element up to date (called per token while it streams). */
export function updateMessage(article, message) {
  article.dataset.state = message.state || "done";
  article.querySelector(".model").textContent = message.model || "";
  const content = article.querySelector(".content");
  content.innerHTML = render(message.content || "");
  if (message.state === "stopped") {
    content.append(element("p", "stopped-note", "(respuesta detenida)"));
  }
  showSources(article.querySelector(".sources"), message);
  showConsensus(article.querySelector(".consensus"), message.consensus);
  article.querySelector(".combined-label").hidden = !message.consensus;
  const error = article.querySelector(".error");
  error.textContent = message.error || "";
  error.hidden = !message.error;
  const busy = message.state === "streaming";
  for (const action of article.querySelectorAll(".actions .action")) {
    action.disabled = busy || (action.dataset.action !== "regenerate" && !message.content);
  }
}

function showSources(box, message) {
  box.replaceChildren();
  if (!message.sources) {
    return;
  }
  if (!message.contextAdded || !message.sources.length) {
    box.append(element("p", "note", "Contexto (MCP): no se encontró nada pertinente; la pregunta fue sin contexto."));
    return;
  }
  const details = element("details", "source-list");
  details.append(element("summary", "", `Contexto añadido (MCP): ${message.sources.length} fuente(s)`));
  const list = element("ol");
  for (const source of message.sources) {
    const item = element("li");
    item.append(element("strong", "", source.document || source.context || "fuente"));
    item.append(element("span", "score", ` · ${Math.round((source.score || 0) * 100)} %`));
    item.append(element("p", "", source.text));
    list.append(item);
  }
  details.append(list);
  box.append(details);
}

function showConsensus(box, consensus) {
  box.replaceChildren();
  box.hidden = !consensus;
  if (!consensus) {
    return;
  }
  const summary = element("p", "agreement");
  const percent = Math.round((consensus.agreement || 0) * 100);
  summary.append(element("strong", "", `Acuerdo: ${percent} %`));
  summary.append(` · ${consensus.agreed ? "hay consenso" : "sin consenso"} · método: ` +
    `${METHODS[consensus.method] || consensus.method} · ${consensus.answers.length} de ` +
    `${consensus.queried} modelos respondieron`);
  const meter = element("meter");
  meter.min = 0;
  meter.max = 100;
  meter.value = percent;
  meter.setAttribute("aria-label", "Acuerdo entre modelos");
  summary.prepend(meter);
  box.append(summary);
  for (const answer of consensus.answers) {
    const details = element("details", "model-answer");
    details.open = true;
    details.append(element("summary", "", `${answer.model} · ${Math.round(answer.latency_ms || 0)} ms`));
    const body = element("div", "markdown");
    body.innerHTML = render(answer.response || "");
    details.append(body);
    box.append(details);
  }
  for (const failed of consensus.failed) {
    box.append(element("p", "failed", `${failed.model} no respondió: ${failed.error}`));
  }
}
