// Every call from the page to a service goes through here: the URL comes from
// config.js, the login token rides along, and a failure becomes an ApiError
// whose message a person can read (the service's own `error` field when it
// sent one). Server-sent events of /api/chat/stream are read here too.

import * as session from "./session.js";

const CONFIG = window.CAPIBARA6_CONFIG;

// The services by the name the page uses, each {url, endpoints, enabled}.
export const SERVICES = Object.freeze({
  chat: { url: CONFIG.BACKEND_URL, endpoints: CONFIG.ENDPOINTS, enabled: true },
  tts: CONFIG.SERVICES.TTS,
  mcp: CONFIG.SERVICES.MCP,
  auth: CONFIG.SERVICES.AUTH,
  consensus: CONFIG.SERVICES.CONSENSUS,
});

// How the page names each service to a person.
export const TITLES = Object.freeze({
  chat: "chat",
  tts: "voz",
  mcp: "contexto (MCP)",
  auth: "inicio de sesión",
  consensus: "consenso",
});

export class ApiError extends Error {
  constructor(message, { service, status = 0, code = "" } = {}) {
    super(message);
    this.name = "ApiError";
    this.service = service;
    this.status = status;
    this.code = code;
  }
}

export function isAbort(error) {
  return error && error.name === "AbortError";
}

/** The full URL of a service's endpoint; {name} placeholders filled from params. */
export function endpoint(service, name, params = {}) {
  const { url, endpoints } = SERVICES[service];
  const path = endpoints[name].replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(params[key]));
  return url + path;
}

/** fetch() of a service's endpoint; resolves to the Response when it is 2xx, else throws ApiError. */
export async function call(service, name, { method = "GET", json, signal, params, auth = true } = {}) {
  const headers = { Accept: "application/json, text/event-stream, audio/wav" };
  const token = session.token();
  if (auth && token) {
    headers.Authorization = `Bearer ${token}`;
  }
  const init = { method, headers, signal, cache: "no-store" };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(endpoint(service, name, params), init);
  } catch (error) {
    if (isAbort(error)) {
      throw error;
    }
    throw new ApiError(`No se pudo conectar con el servicio de ${TITLES[service]}. ` +
                       "Comprueba la conexión y vuelve a intentarlo.", { service });
  }
  if (!response.ok) {
    throw await failure(service, response);
  }
  return response;
}

export async function getJson(service, name, options = {}) {
  return (await call(service, name, options)).json();
}

export async function postJson(service, name, json, options = {}) {
  return (await call(service, name, { ...options, method: "POST", json })).json();
}

/** The readable error of a non-2xx response: the service's `error` field, else what the status means. */
async function failure(service, response) {
  const title = TITLES[service];
  let body = null;
  if ((response.headers.get("Content-Type") || "").includes("application/json")) {
    body = await response.json().catch(() => null);
  }
  if (body && typeof body.error === "string") {
    const hint = response.status === 401 ? " (inicia sesión para continuar)" : "";
    return new ApiError(`El servicio de ${title} respondió: ${body.error}${hint}`,
                        { service, status: response.status, code: body.code || "" });
  }
  // No JSON: nginx's own page, because the service behind it is down or restarting.
  const reason = [502, 503, 504].includes(response.status)
    ? "no está disponible en este momento; vuelve a intentarlo en unos segundos"
    : "no pudo atender la petición";
  return new ApiError(`El servicio de ${title} ${reason} (HTTP ${response.status}).`,
                      { service, status: response.status, code: `http_${response.status}` });
}

/**
 * The events of a text/event-stream response, parsed from their `data:` JSON, as they arrive.
 * Each event's fields are what the chat service sends: {content, done} and at the end
 * {done: true, full_response, model, tokens}, or {error, code, done: true}.
 */
export async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        finished = true;
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        const data = block.split(/\r?\n/).filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, "")).join("\n");
        if (data) {
          yield JSON.parse(data);
        }
      }
    }
  } finally {
    if (!finished) {
      // The reader stopped early (done event, stop button): close the connection too.
      reader.cancel().catch(() => {});
    }
  }
}
