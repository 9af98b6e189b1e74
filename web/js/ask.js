// Getting an answer, without the page: optional context from MCP, then either
// the chat service's token stream or the consensus service's combined answer.
// Fills the assistant message it is given as things arrive and calls
// onChange() after each change; an abort (the stop button) ends it quietly.

import { ApiError, call, events, isAbort, postJson } from "./api.js";

const HISTORY_MESSAGES = 40;

/** The conversation so far as the chat service's `history` ({role, content}), newest last. */
export function history(messages) {
  return messages.filter((m) => m.content && m.state !== "error")
    .map((m) => ({ role: m.role, content: m.content })).slice(-HISTORY_MESSAGES);
}

/**
 * Fill `answer` (an assistant message) for the question `text`.
 * options: {history, model, consensus, mcp, signal, onChange, onNotice}.
 */
export async function ask(answer, text, options) {
  const { signal, onChange } = options;
  let prompt = text;
  if (options.mcp) {
    prompt = await withContext(answer, text, options);
    onChange();
  }
  if (options.consensus) {
    await consensus(answer, prompt, options);
  } else {
    await stream(answer, prompt, options);
  }
  if (signal.aborted) {
    throw new DOMException("stopped", "AbortError");
  }
}

// MCP's augmented prompt, and its sources on the answer; without MCP the question goes as it is.
async function withContext(answer, text, { signal, onNotice }) {
  try {
    const augmented = await postJson("mcp", "augment", { prompt: text }, { signal });
    answer.sources = (augmented.sources || []).map((s) => ({
      document: s.document || s.context, context: s.context, text: s.text, score: s.score,
    }));
    answer.contextAdded = Boolean(augmented.needs_context);
    return augmented.needs_context ? augmented.augmented_prompt : text;
  } catch (error) {
    if (isAbort(error)) {
      throw error;
    }
    onNotice(`${error.message} La pregunta se envía sin contexto.`);
    return text;
  }
}

async function stream(answer, prompt, { history: past, model, signal, onChange }) {
  const body = { message: prompt, history: past };
  if (model) {
    body.model = model;
  }
  const response = await call("chat", "stream", { method: "POST", json: body, signal });
  for await (const event of events(response)) {
    if (event.error) {
      throw new ApiError(`El servicio de chat respondió: ${event.error}`,
                         { service: "chat", code: event.code || "" });
    }
    if (event.done) {
      answer.content = event.full_response ?? answer.content;
      answer.model = event.model || answer.model;
      answer.tokens = event.tokens;
      return;
    }
    answer.content += event.content;
    onChange();
  }
  throw new ApiError("El servicio de chat cortó la respuesta antes de terminarla.", { service: "chat" });
}

async function consensus(answer, prompt, { signal }) {
  const result = await postJson("consensus", "query", { prompt }, { signal });
  answer.content = result.response;
  answer.model = result.model_used;
  answer.consensus = {
    agreed: Boolean(result.consensus),
    method: result.consensus_method,
    agreement: result.agreement,
    queried: result.models_queried,
    answers: (result.answers || []).map((a) => ({ model: a.model, response: a.response,
                                                  latency_ms: a.latency_ms })),
    failed: (result.failed_models || []).map((f) => ({ model: f.model, error: f.error })),
  };
}
