// The list of conversations kept in this browser: open, rename (in place:
// Enter keeps the new name, Esc leaves it) and delete (asks once more).

import * as store from "./store.js";

export class Sidebar {
  constructor(list, { onOpen, onDeleted }) {
    this.list = list;
    this.onOpen = onOpen;
    this.onDeleted = onDeleted;
  }

  show(currentId) {
    this.list.replaceChildren();
    if (!store.list().length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "Aún no hay conversaciones guardadas en este navegador.";
      this.list.append(empty);
    }
    for (const conversation of store.list()) {
      const item = document.createElement("li");
      item.dataset.id = conversation.id;
      if (conversation.id === currentId) {
        item.setAttribute("aria-current", "true");
      }
      const open = this.button("open", conversation.title || "Conversación nueva", "Abrir");
      open.addEventListener("click", () => this.onOpen(conversation.id));
      const rename = this.button("rename", "✎", `Renombrar «${conversation.title}»`);
      rename.addEventListener("click", () => this.rename(item, conversation));
      const remove = this.button("delete", "✕", `Eliminar «${conversation.title}»`);
      remove.addEventListener("click", () => this.remove(remove, conversation.id));
      item.append(open, rename, remove);
      this.list.append(item);
    }
  }

  button(kind, label, title) {
    const node = document.createElement("button");
    node.type = "button";
    node.className = kind;
    node.textContent = label;
    node.title = title;
    node.setAttribute("aria-label", title);
    return node;
  }

  rename(item, conversation) {
    const input = document.createElement("input");
    input.type = "text";
    input.className = "rename-input";
    input.value = conversation.title;
    input.setAttribute("aria-label", "Nuevo nombre de la conversación");
    let done = false;
    const finish = (keep) => {
      if (done) {
        return;
      }
      done = true;
      if (keep) {
        store.rename(conversation.id, input.value);
      }
      this.show(store.currentId());
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        finish(true);
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();  // Esc here leaves the name, it does not stop an answer
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
    item.replaceChildren(input);
    input.focus();
    input.select();
  }

  remove(button, id) {
    if (button.dataset.confirm !== "yes") {
      button.dataset.confirm = "yes";
      button.textContent = "¿Eliminar?";
      button.setAttribute("aria-label", "Confirmar: eliminar esta conversación");
      return;
    }
    store.remove(id);
    this.onDeleted(id);
  }
}
