// The login token, kept in this browser (localStorage) between visits.
// Every request to a service carries it (api.js); login.js puts it here only
// after /auth/verify said it is valid, and logout takes it away.

const KEY = "capibara6.token";

export function token() {
  return window.localStorage.getItem(KEY);
}

export function keep(value) {
  window.localStorage.setItem(KEY, value);
}

export function forget() {
  window.localStorage.removeItem(KEY);
}
