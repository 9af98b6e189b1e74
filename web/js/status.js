// A light per service from its /health: green when it answers "ok", amber
// when it answers but is degraded or still starting, red when it does not
// answer. Checked at load, every CHECK_EVERY_MS, and whenever a call failed.

import { SERVICES, TITLES, endpoint } from "./api.js";

const CHECK_EVERY_MS = 15000;
const LABELS = { ok: "funciona", degraded: "funciona con avisos", starting: "arrancando", down: "no responde" };
const listeners = [];
let timer = null;

/** Called with (service, state, body) after each check; auth's body says which logins are enabled. */
export function onHealth(listener) {
  listeners.push(listener);
}

// The services config.js lists as deployed.
const watched = Object.keys(SERVICES).filter((service) => SERVICES[service].enabled);

export function start(list) {
  list.replaceChildren();
  for (const service of watched) {
    const item = document.createElement("li");
    item.dataset.service = service;
    item.dataset.state = "unknown";
    const light = document.createElement("span");
    light.className = "light";
    light.setAttribute("aria-hidden", "true");
    const name = document.createElement("span");
    name.textContent = TITLES[service];
    item.append(light, name);
    list.append(item);
  }
  checkAll(list);
}

export function checkAll(list) {
  window.clearTimeout(timer);
  Promise.all(watched.map((service) => check(list, service)))
    .finally(() => { timer = window.setTimeout(() => checkAll(list), CHECK_EVERY_MS); });
}

/** Check again when a light is not green (an answer just worked: something may be back). */
export function recheckIfNotAllOk(list) {
  if (list.querySelector("li:not([data-state='ok'])")) {
    checkAll(list);
  }
}

async function check(list, service) {
  let state = "down";
  let body = null;
  let detail = "";
  try {
    const response = await fetch(endpoint(service, "health"), { cache: "no-store" });
    body = await response.json().catch(() => null);
    if (body && body.status === "ok" && response.ok) {
      state = "ok";
    } else if (body && (body.status === "degraded" || body.status === "starting")) {
      state = body.status;
      detail = body.error || problems(body.checks);
    } else {
      detail = `HTTP ${response.status}`;
    }
  } catch {
    detail = "sin conexión";
  }
  const item = list.querySelector(`[data-service="${service}"]`);
  item.dataset.state = state;
  const text = `Servicio de ${TITLES[service]}: ${LABELS[state]}${detail ? ` (${detail})` : ""}`;
  item.title = text;
  item.setAttribute("aria-label", text);
  listeners.forEach((listener) => listener(service, state, body));
}

function problems(checks) {
  return Object.entries(checks || {}).filter(([, details]) => details && details.status !== "ok")
    .map(([name, details]) => `${name}: ${details.status}`).join(", ");
}
