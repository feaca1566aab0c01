// Renders the served contract (GET /api/v2/openapi.json, next to this page) with Swagger UI. A file of
// its own rather than an inline script, so that the page's Content-Security-Policy allows no inline code.
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: new URL("openapi.json", document.baseURI).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // Nothing leaves this server: no validator badge (it would call validator.swagger.io).
    validatorUrl: null,
    tryItOutEnabled: false,
  });
});
