// The page a finished login lands on (CAPIBARA6_AUTH_SUCCESS_URL): the token
// comes in the URL fragment (#token=...). It leaves the address bar and the
// history at once, is checked with the auth service's /auth/verify, and is
// kept only when valid; then the chat page opens.

import { postJson } from "./api.js";
import * as session from "./session.js";

const status = document.getElementById("login-status");
const back = document.getElementById("back");

function say(text, failed = false) {
  status.textContent = text;
  status.classList.toggle("error", failed);
}

async function finishLogin() {
  const token = new URLSearchParams(window.location.hash.slice(1)).get("token");
  // Out of the address bar (and this history entry) before anything else happens.
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  if (!token) {
    say("No hay ningún inicio de sesión que comprobar.", true);
    back.hidden = false;
    return;
  }
  try {
    const { user } = await postJson("auth", "verify", { token }, { auth: false });
    session.keep(token);
    say(`Hola, ${user.name || user.email || user.id}. Abriendo el chat…`);
    window.location.replace("./");
  } catch (error) {
    session.forget();
    say(`No se pudo iniciar sesión. ${error.message}`, true);
    back.hidden = false;
  }
}

finishLogin();
