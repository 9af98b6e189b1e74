// Where the page finds each Capibara6 service: read by every module of the page
// from window.CAPIBARA6_CONFIG, and checked by tests/browser/test_config.py
// against the services' own routes (every path here must be one a service serves).
//
// Production: nginx serves this page and every service on one origin, so each
// URL is the page's own origin and each service's /health is nginx's
// /health/<service>. Development (`make serve-web`): the page is served on
// port 8000 of loopback and each service listens on its own port, 5001-5005.
(function () {
  "use strict";

  var DEV_PAGE_PORT = "8000";
  var DEV_PORTS = { chat: 5001, tts: 5002, mcp: 5003, auth: 5004, consensus: 5005 };
  var loopback = ["127.0.0.1", "localhost", "[::1]"].indexOf(window.location.hostname) !== -1;
  var dev = loopback && window.location.port === DEV_PAGE_PORT;

  function url(service) {
    return dev ? "http://127.0.0.1:" + DEV_PORTS[service] : window.location.origin;
  }

  function health(service) {
    return dev ? "/health" : "/health/" + service;
  }

  var CHAT = url("chat");

  window.CAPIBARA6_CONFIG = Object.freeze({
    DEV: dev,
    BACKEND_URL: CHAT,
    ENDPOINTS: Object.freeze({
      chat: "/api/chat",
      stream: "/api/chat/stream",
      save: "/api/save-conversation",
      health: health("chat"),
      models: "/api/models",
    }),
    SERVICES: Object.freeze({
      TTS: Object.freeze({
        url: url("tts"),
        enabled: true,
        endpoints: Object.freeze({ speak: "/api/tts/speak", voices: "/voices", health: health("tts") }),
      }),
      MCP: Object.freeze({
        url: url("mcp"),
        enabled: true,
        endpoints: Object.freeze({ augment: "/api/mcp/augment", contexts: "/api/mcp/contexts",
                                   health: health("mcp") }),
      }),
      AUTH: Object.freeze({
        url: url("auth"),
        enabled: true,
        // {provider}: github, google or oidc (those the service's /health lists as enabled).
        endpoints: Object.freeze({ login: "/auth/{provider}", verify: "/auth/verify",
                                   logout: "/auth/logout", health: health("auth") }),
      }),
      CONSENSUS: Object.freeze({
        url: url("consensus"),
        enabled: true,
        endpoints: Object.freeze({ query: "/api/consensus/query", models: "/api/consensus/models",
                                   health: health("consensus") }),
      }),
    }),
  });
})();
