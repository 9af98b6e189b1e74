// chat.html, the page's old address: on to the page, keeping what the address
// carries (a login's #token= goes to the login page that checks it).
const hash = window.location.hash;
const target = /(^#|&)token=/.test(hash) ? "login.html" : "./";
window.location.replace(target + window.location.search + hash);
