// Who is logged in: login buttons for the providers the auth service lists as
// enabled in its /health, the person's name once their token is checked, and
// logout (the service revokes the token; this browser forgets it).

import { ApiError, endpoint, postJson } from "./api.js";
import * as session from "./session.js";

const PROVIDERS = { github: "GitHub", google: "Google", oidc: "OIDC" };

export class Account {
  constructor(box, notify) {
    this.box = box;
    this.notify = notify;
    this.user = null;
    this.providers = null;  // null: the auth service has not said yet
  }

  /** The logged-in person, from a check of the stored token (a bad one is forgotten). */
  async load() {
    const token = session.token();
    if (token) {
      try {
        this.user = (await postJson("auth", "verify", { token }, { auth: false })).user;
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          session.forget();
          this.notify("Tu sesión ha caducado o se cerró; vuelve a entrar.");
        } else {
          this.notify(`No se pudo comprobar tu sesión. ${error.message}`);
        }
      }
    }
    this.show();
  }

  /** status.js's report on auth's /health: which logins to offer. */
  health(state, body) {
    const enabled = body && body.checks && body.checks.providers ? body.checks.providers.enabled : null;
    const providers = state === "down" || !Array.isArray(enabled) ? [] : enabled;
    if (JSON.stringify(providers) !== JSON.stringify(this.providers)) {
      this.providers = providers;
      this.show();
    }
  }

  async logout() {
    const token = session.token();
    session.forget();
    this.user = null;
    this.show();
    try {
      await postJson("auth", "logout", { token }, { auth: false });
      this.notify("Sesión cerrada.");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        this.notify("Sesión cerrada.");
      } else {
        this.notify(`Este navegador ha olvidado tu sesión, pero el servidor no pudo anularla. ${error.message}`);
      }
    }
  }

  show() {
    this.box.replaceChildren();
    if (this.user) {
      const who = document.createElement("p");
      who.className = "user";
      who.textContent = `Sesión iniciada: ${this.user.name || this.user.email || this.user.id}`;
      const out = document.createElement("button");
      out.type = "button";
      out.id = "logout";
      out.textContent = "Cerrar sesión";
      out.addEventListener("click", () => this.logout());
      this.box.append(who, out);
      return;
    }
    if (this.providers === null) {
      return;
    }
    if (!this.providers.length) {
      const none = document.createElement("p");
      none.className = "note";
      none.textContent = "Inicio de sesión no disponible en este servidor.";
      this.box.append(none);
      return;
    }
    for (const provider of this.providers) {
      const link = document.createElement("a");
      link.className = "button login";
      link.dataset.provider = provider;
      link.href = endpoint("auth", "login", { provider });
      link.textContent = `Entrar con ${PROVIDERS[provider] || provider}`;
      this.box.append(link);
    }
  }

  email() {
    return this.user ? this.user.email : undefined;
  }
}
