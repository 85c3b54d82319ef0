// The API's interactive documentation (Swagger UI, pinned under /static/vendor), started
// here rather than inline. "Try it out" sends the signed-in session's cookie and CSRF token.
"use strict";
window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  requestInterceptor: (request) => {
    request.headers["X-CSRF-Token"] = document.querySelector('meta[name="csrf-token"]').content;
    return request;
  },
});
