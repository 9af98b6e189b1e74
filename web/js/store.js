// Conversations, kept in this browser (localStorage): listed newest first,
// renamed, deleted. Each is {id, title, created, updated, messages}, and a
// message is {role: "user" | "assistant", content, ...what the page shows
// with it (model, state, error, sources, consensus)}.

const KEY = "capibara6.conversations";
const CURRENT_KEY = "capibara6.current";
const TITLE_CHARS = 60;

function read() {
  try {
    const stored = JSON.parse(window.localStorage.getItem(KEY) || "[]");
    return Array.isArray(stored) ? stored : [];
  } catch {
    return [];  // a damaged entry must not take the page down with it
  }
}

function write(conversations) {
  window.localStorage.setItem(KEY, JSON.stringify(conversations));
}

export function list() {
  return read().sort((a, b) => b.updated - a.updated);
}

export function get(id) {
  const found = read().find((conversation) => conversation.id === id) || null;
  for (const message of found ? found.messages : []) {
    if (message.state === "streaming") {
      message.state = "stopped";  // its page closed (or moved on) while it was being written
    }
  }
  return found;
}

/** The question-and-answer pairs that have an answer, as /api/save-conversation takes them. */
export function exchanges(conversation) {
  return conversation.messages.flatMap((message, index) => {
    const next = conversation.messages[index + 1];
    return message.role === "user" && next && next.role === "assistant" && next.content
      ? [{ message: message.content, response: next.content, model: next.model || "" }] : [];
  });
}

export function create() {
  const now = Date.now();
  const id = window.crypto.randomUUID ? window.crypto.randomUUID() : `${now}-${Math.random()}`;
  return { id, title: "", created: now, updated: now, messages: [] };
}

/** Store the conversation (new or changed); its title is its first question until renamed. */
export function save(conversation) {
  if (!conversation.title) {
    const first = conversation.messages.find((message) => message.role === "user");
    if (first) {
      const words = first.content.replace(/\s+/g, " ").trim();
      conversation.title = words.length > TITLE_CHARS ? `${words.slice(0, TITLE_CHARS - 1)}…` : words;
    }
  }
  conversation.updated = Date.now();
  const others = read().filter((stored) => stored.id !== conversation.id);
  write([...others, conversation]);
}

export function rename(id, title) {
  const conversations = read();
  const found = conversations.find((conversation) => conversation.id === id);
  if (found && title.trim()) {
    found.title = title.trim();
    write(conversations);
  }
}

export function remove(id) {
  write(read().filter((conversation) => conversation.id !== id));
  if (currentId() === id) {
    window.localStorage.removeItem(CURRENT_KEY);
  }
}

export function currentId() {
  return window.localStorage.getItem(CURRENT_KEY);
}

export function setCurrent(id) {
  window.localStorage.setItem(CURRENT_KEY, id);
}
