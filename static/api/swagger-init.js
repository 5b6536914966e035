// Starts Swagger UI on /api/docs. Signed-in browser users can try calls with their session:
// the page's CSRF token is added to every request that carries no bearer token.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
    validatorUrl: null,
    requestInterceptor: function (request) {
      if (!request.headers.Authorization) {
        request.headers["X-CSRFToken"] = csrf;
      }
      return request;
    },
  });
});
