/* Cases for header maps, bodies, trailers, local replies and stream control. */
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

static int bad_request(stream_ctx *s, const char *why) {
  report_add(&s->rep, "error", "%s", why);
  reply_report(s, 400);
  return PW_ACTION_PAUSE;
}

static pw_status add_header(int32_t map, const char *k, const char *v) {
  return proxy_add_header_map_value(map, k, (int32_t)strlen(k), v, (int32_t)strlen(v));
}

static pw_status replace_header(int32_t map, const char *k, const char *v) {
  return proxy_replace_header_map_value(map, k, (int32_t)strlen(k), v, (int32_t)strlen(v));
}

static pw_status remove_header(int32_t map, const char *k) {
  return proxy_remove_header_map_value(map, k, (int32_t)strlen(k));
}

/* --- headers ------------------------------------------------------------------------------------- */

static void append_pair_line(void *arg, const char *k, size_t kl, const char *v, size_t vl) {
  sbuf *b = arg;
  sb_append(b, k, kl);
  sb_puts(b, ": ");
  sb_append(b, v, vl);
  sb_puts(b, "\n");
}

/* /hostcalls/headers/get: every request header (body, "name: value" lines), map size. */
static req_result c_headers_get(stream_ctx *s) {
  char *p = NULL;
  int32_t n = 0;
  pw_status st = proxy_get_header_map_pairs(PW_MAP_HTTP_REQUEST_HEADERS, &p, &n);
  report_status(&s->rep, "get-pairs", st);
  if (st == PW_OK) {
    report_add(&s->rep, "pairs-count", "%d", pairs_decode(p, (size_t)n, append_pair_line, &s->body));
    report_add(&s->rep, "pairs-bytes", "%d", n);
  }
  free(p);
  int32_t size = -1;
  report_status(&s->rep, "map-size", proxy_get_header_map_size(PW_MAP_HTTP_REQUEST_HEADERS, &size));
  report_add(&s->rep, "map-size-value", "%d", size);
  return R_REPLY;
}

/* /hostcalls/headers/value[/<name>]: one value (default x-hc-probe), upper-case lookup, a missing one. */
static req_result c_headers_value(stream_ctx *s) {
  const char *name = *s->arg ? s->arg : "x-hc-probe";
  pw_status st;
  char *v = get_map_value(PW_MAP_HTTP_REQUEST_HEADERS, name, &st);
  report_status(&s->rep, "get-value", st);
  if (v) report_add(&s->rep, "value", "%s", v);
  free(v);
  v = get_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "X-HC-PROBE", &st);
  report_status(&s->rep, "get-value-uppercase", st);
  if (v) report_add(&s->rep, "value-uppercase", "%s", v);
  free(v);
  v = get_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-definitely-missing", &st);
  report_status(&s->rep, "get-missing", st);
  if (v) report_add(&s->rep, "missing-value-size", "%zu", strlen(v));
  free(v);
  return R_REPLY;
}

/* /hostcalls/headers/mutate: add twice, replace, remove, remove absent; the request goes upstream. */
static req_result c_headers_mutate(stream_ctx *s) {
  report_status(&s->rep, "add", add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-added", "one"));
  report_status(&s->rep, "add-again", add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-added", "two"));
  report_status(&s->rep, "add-mixed-case", add_header(PW_MAP_HTTP_REQUEST_HEADERS, "X-HC-Mixed-Case", "yes"));
  report_status(&s->rep, "replace", replace_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-replaced", "new"));
  report_status(&s->rep, "remove", remove_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-remove-me"));
  report_status(&s->rep, "remove-absent", remove_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-absent"));
  return R_CONTINUE;
}

typedef struct {
  int n;
  const char **kv;
  int cap;
} pair_list;

static void pair_list_push(pair_list *l, const char *k, size_t kl, const char *v, size_t vl) {
  if (l->n >= l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    l->kv = realloc(l->kv, sizeof(char *) * 2 * (size_t)l->cap);
    if (!l->kv) __builtin_trap();
  }
  l->kv[2 * l->n] = xstrndup(k, kl);
  l->kv[2 * l->n + 1] = xstrndup(v, vl);
  l->n++;
}

static void keep_pseudo_and_host(void *arg, const char *k, size_t kl, const char *v, size_t vl) {
  if ((kl > 0 && k[0] == ':') || (kl == 4 && memcmp(k, "host", 4) == 0)) pair_list_push(arg, k, kl, v, vl);
}

/* /hostcalls/headers/set_pairs: replaces the request headers with the pseudo-headers (+ host) and
 * x-hc-only: 1; the request goes upstream. */
static req_result c_headers_set_pairs(stream_ctx *s) {
  char *p = NULL;
  int32_t n = 0;
  pw_status st = proxy_get_header_map_pairs(PW_MAP_HTTP_REQUEST_HEADERS, &p, &n);
  report_status(&s->rep, "get-pairs", st);
  pair_list l = {0};
  pairs_decode(p, (size_t)n, keep_pseudo_and_host, &l);
  free(p);
  pair_list_push(&l, "x-hc-only", 9, "1", 1);
  sbuf enc = {0};
  pairs_encode(&enc, l.kv, l.n);
  report_status(&s->rep, "set-pairs", proxy_set_header_map_pairs(PW_MAP_HTTP_REQUEST_HEADERS, enc.data, (int32_t)enc.len));
  sb_free(&enc);
  for (int i = 0; i < 2 * l.n; i++) free((void *)l.kv[i]);
  free(l.kv);
  return R_CONTINUE;
}

static req_result c_headers_errors(stream_ctx *s) {
  char *p = NULL;
  int32_t n = 0;
#define FREE_P() (free(p), p = NULL)
  report_status(&s->rep, "get-bad-map-type", proxy_get_header_map_value(8, ":path", 5, &p, &n));
  FREE_P();
  report_status(&s->rep, "get-pairs-bad-map-type", proxy_get_header_map_pairs(9, &p, &n));
  FREE_P();
  report_status(&s->rep, "add-bad-map-type", proxy_add_header_map_value(8, "x-hc", 4, "v", 1));
  report_status(&s->rep, "replace-bad-map-type", proxy_replace_header_map_value(8, "x-hc", 4, "v", 1));
  report_status(&s->rep, "remove-bad-map-type", proxy_remove_header_map_value(8, "x-hc", 4));
  report_status(&s->rep, "size-bad-map-type", proxy_get_header_map_size(8, &n));
  report_status(&s->rep, "set-pairs-bad-map-type", proxy_set_header_map_pairs(8, "\0\0\0\0", 4));
  report_status(&s->rep, "get-response-headers-now",
                proxy_get_header_map_pairs(PW_MAP_HTTP_RESPONSE_HEADERS, &p, &n));
  FREE_P();
  report_status(&s->rep, "add-response-header-now", add_header(PW_MAP_HTTP_RESPONSE_HEADERS, "x-hc-early", "1"));
  report_status(&s->rep, "get-call-response-headers-now",
                proxy_get_header_map_pairs(PW_MAP_HTTP_CALL_RESPONSE_HEADERS, &p, &n));
  FREE_P();
  report_status(&s->rep, "add-bad-key-memory", proxy_add_header_map_value(0, BAD_PTR, 8, "v", 1));
  report_status(&s->rep, "add-bad-value-memory", proxy_add_header_map_value(0, "x-hc-k", 6, BAD_PTR, 8));
  report_status(&s->rep, "get-bad-ret-memory", proxy_get_header_map_value(0, ":path", 5, BAD_PPTR, BAD_I32P));
  report_status(&s->rep, "get-pairs-bad-ret-memory", proxy_get_header_map_pairs(0, BAD_PPTR, BAD_I32P));
  report_status(&s->rep, "set-pairs-bad-memory", proxy_set_header_map_pairs(0, BAD_PTR, 64));
  report_status(&s->rep, "size-bad-memory", proxy_get_header_map_size(0, BAD_I32P));
#undef FREE_P
  return R_REPLY;
}

/* /hostcalls/headers/response: the response headers are changed in on_response_headers. */
static int r_headers_response(stream_ctx *s) {
  report_status(&s->rep, "resp-add", add_header(PW_MAP_HTTP_RESPONSE_HEADERS, "x-hc-response-added", "yes"));
  report_status(&s->rep, "resp-replace", replace_header(PW_MAP_HTTP_RESPONSE_HEADERS, "x-hc-response-replaced", "yes"));
  report_status(&s->rep, "resp-remove", remove_header(PW_MAP_HTTP_RESPONSE_HEADERS, "x-hc-response-remove-me"));
  pw_status st;
  char *status = get_map_value(PW_MAP_HTTP_RESPONSE_HEADERS, ":status", &st);
  report_status(&s->rep, "resp-get-status", st);
  if (status) report_add(&s->rep, "resp-status", "%s", status);
  free(status);
  char *p = NULL;
  int32_t n = 0;
  report_status(&s->rep, "resp-get-request-headers",
                proxy_get_header_map_pairs(PW_MAP_HTTP_REQUEST_HEADERS, &p, &n));
  free(p);
  return PW_ACTION_CONTINUE;
}

static req_result c_continue(stream_ctx *s) {
  (void)s;
  return R_CONTINUE;
}

/* --- request bodies ------------------------------------------------------------------------------ */

/* Body cases buffer the whole request body (Pause until end_of_stream) before acting on it. */
static req_result c_body_start(stream_ctx *s) {
  if (s->headers_eos) {
    report_add(&s->rep, "error", "send a request body");
    reply_report(s, 400);
    return R_REPLIED;
  }
  if (strcmp(s->arg, "prepend") == 0 || strcmp(s->arg, "append") == 0 || strcmp(s->arg, "replace") == 0)
    report_status(&s->rep, "remove-content-length", remove_header(PW_MAP_HTTP_REQUEST_HEADERS, "content-length"));
  return R_CONTINUE;
}

static int b_body(stream_ctx *s, uint32_t size, int eos) {
  if (!eos) return PW_ACTION_PAUSE;
  const char *a = s->arg;
  char *p = NULL;
  int32_t n = 0;
  if (strcmp(a, "echo") == 0) {
    pw_status st = proxy_get_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, size, &p, &n);
    report_status(&s->rep, "get-body", st);
    report_add(&s->rep, "body-size", "%d", st == PW_OK ? n : 0);
    report_add(&s->rep, "body-calls", "%d", s->body_calls);
    if (st == PW_OK && n) sb_append(&s->body, p, (size_t)n);
    free(p);
    int32_t bsize = -1;
    uint32_t flags = 0xffffffffu;
    report_status(&s->rep, "body-status", proxy_get_buffer_status(PW_BUFFER_HTTP_REQUEST_BODY, &bsize, &flags));
    report_add(&s->rep, "body-status-size", "%d", bsize);
    report_add(&s->rep, "body-status-flags", "%u", flags);
    reply_report(s, 200);
    return PW_ACTION_PAUSE;
  }
  if (strcmp(a, "prepend") == 0) {
    report_status(&s->rep, "set-body", proxy_set_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, 0, "prefix:", 7));
  } else if (strcmp(a, "append") == 0) {
    report_status(&s->rep, "set-body", proxy_set_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, size, 0, ":suffix", 7));
  } else if (strcmp(a, "replace") == 0) {
    report_status(&s->rep, "set-body", proxy_set_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, size, "replaced", 8));
  } else if (strcmp(a, "middle") == 0) {
    report_status(&s->rep, "set-body-middle", proxy_set_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 1, 1, "X", 1));
    report_add(&s->rep, "body-size", "%u", size);
    reply_report(s, 200);
    return PW_ACTION_PAUSE;
  } else if (strcmp(a, "errors") == 0) {
    report_add(&s->rep, "body-size", "%u", size);
    report_status(&s->rep, "get-body-bad-memory",
                  proxy_get_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, size, BAD_PPTR, BAD_I32P));
    report_status(&s->rep, "get-body-overflow",
                  proxy_get_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0xffffffffu, 16, &p, &n));
    free(p);
    p = NULL;
    n = -1;
    report_status(&s->rep, "get-body-past-end",
                  proxy_get_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, size + 10, 10, &p, &n));
    report_add(&s->rep, "past-end-size", "%d", n);
    free(p);
    p = NULL;
    report_status(&s->rep, "get-body-bad-type", proxy_get_buffer_bytes(9, 0, 16, &p, &n));
    free(p);
    p = NULL;
    report_status(&s->rep, "get-response-body-now",
                  proxy_get_buffer_bytes(PW_BUFFER_HTTP_RESPONSE_BODY, 0, 16, &p, &n));
    free(p);
    p = NULL;
    report_status(&s->rep, "set-body-bad-memory", proxy_set_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, 0, BAD_PTR, 8));
    report_status(&s->rep, "set-body-bad-type", proxy_set_buffer_bytes(9, 0, 0, "x", 1));
    report_status(&s->rep, "status-bad-memory",
                  proxy_get_buffer_status(PW_BUFFER_HTTP_REQUEST_BODY, BAD_I32P, BAD_U32P));
    int32_t bsize;
    uint32_t flags;
    report_status(&s->rep, "status-bad-type", proxy_get_buffer_status(9, &bsize, &flags));
    report_status(&s->rep, "set-plugin-config-now", proxy_set_buffer_bytes(PW_BUFFER_PLUGIN_CONFIGURATION, 0, 0, "x", 1));
    reply_report(s, 200);
    return PW_ACTION_PAUSE;
  } else {
    bad_request(s, "use body/echo, body/prepend, body/append, body/replace, body/middle or body/errors");
    return PW_ACTION_PAUSE;
  }
  return PW_ACTION_CONTINUE;
}

/* --- response bodies -------------------------------------------------------------------------------- */

static int r_response_body_headers(stream_ctx *s) {
  report_status(&s->rep, "resp-remove-content-length", remove_header(PW_MAP_HTTP_RESPONSE_HEADERS, "content-length"));
  return PW_ACTION_CONTINUE;
}

/* /hostcalls/response_body/{append,replace}: buffers the response body and changes it at the end. */
static int rb_response_body(stream_ctx *s, uint32_t size, int eos) {
  if (!eos) return PW_ACTION_PAUSE;
  pw_status st;
  if (strcmp(s->arg, "replace") == 0)
    st = proxy_set_buffer_bytes(PW_BUFFER_HTTP_RESPONSE_BODY, 0, size, "replaced-response", 17);
  else
    st = proxy_set_buffer_bytes(PW_BUFFER_HTTP_RESPONSE_BODY, size, 0, ":resp-suffix", 12);
  plog(PW_LOG_INFO, "set response body (%s, %u bytes) -> %d", s->arg, size, st);
  return PW_ACTION_CONTINUE;
}

/* --- trailers --------------------------------------------------------------------------------------- */

/* /hostcalls/trailers: counts the request trailers; /hostcalls/trailers/add adds one at end of body. */
static int t_request_trailers(stream_ctx *s, uint32_t ntrailers) {
  char *p = NULL;
  int32_t n = 0;
  pw_status st = proxy_get_header_map_pairs(PW_MAP_HTTP_REQUEST_TRAILERS, &p, &n);
  report_status(&s->rep, "get-request-trailers", st);
  report_add(&s->rep, "request-trailers", "%u", ntrailers);
  if (st == PW_OK) report_add(&s->rep, "request-trailers-decoded", "%d", pairs_decode(p, (size_t)n, NULL, NULL));
  free(p);
  return PW_ACTION_CONTINUE;
}

static int t_body(stream_ctx *s, uint32_t size, int eos) {
  (void)size;
  if (eos && strcmp(s->arg, "add") == 0)
    report_status(&s->rep, "add-request-trailer", add_header(PW_MAP_HTTP_REQUEST_TRAILERS, "x-hc-trailer", "added"));
  return PW_ACTION_CONTINUE;
}

/* --- local replies ------------------------------------------------------------------------------- */

static pw_status local_reply(uint32_t code, const char *details, const char *body, int grpc) {
  static const char *const kv[] = {"x-hc-local", "yes", "x-hc-multi", "a", "x-hc-multi", "b"};
  sbuf h = {0};
  pairs_encode(&h, kv, 3);
  pw_status st = proxy_send_local_response(code, details, (int32_t)strlen(details), body, (int32_t)strlen(body),
                                           h.data, (int32_t)h.len, grpc);
  sb_free(&h);
  return st;
}

/* /hostcalls/local_response/<code>, .../twice, .../grpc, .../bad_memory, .../response_phase */
static req_result c_local_response(stream_ctx *s) {
  const char *a = s->arg;
  pw_status st;
  if (strcmp(a, "twice") == 0) {
    st = local_reply(403, "first reply", "first\n", -1);
    plog(PW_LOG_INFO, "first send_local_response -> %d", st);
    st = local_reply(200, "second reply", "second\n", -1);
    plog(PW_LOG_INFO, "second send_local_response -> %d", st);
    s->replied = 1;
    return R_REPLIED;
  }
  if (strcmp(a, "grpc") == 0) {
    st = local_reply(200, "grpc reply", "", 14);
    plog(PW_LOG_INFO, "send_local_response (grpc 14) -> %d", st);
    s->replied = 1;
    return R_REPLIED;
  }
  if (strcmp(a, "bad_memory") == 0) {
    report_status(&s->rep, "local-bad-memory",
                  proxy_send_local_response(403, "bad", 3, BAD_PTR, 16, NULL, 0, -1));
    return R_CONTINUE;
  }
  if (strcmp(a, "response_phase") == 0) return R_CONTINUE;
  uint32_t code = *a ? (uint32_t)strtoul(a, NULL, 10) : 200;
  char *body = xprintf("local reply %u\n", code);
  st = local_reply(code, "c-hostcalls local reply", body, -1);
  free(body);
  plog(PW_LOG_INFO, "send_local_response %u -> %d", code, st);
  s->replied = 1;
  return R_REPLIED;
}

static int r_local_response(stream_ctx *s) {
  if (strcmp(s->arg, "response_phase") != 0) return PW_ACTION_CONTINUE;
  pw_status st = local_reply(418, "late reply", "late reply\n", -1);
  plog(PW_LOG_INFO, "send_local_response in on_response_headers -> %d", st);
  s->replied = 1;
  return PW_ACTION_PAUSE;
}

/* --- stream control ------------------------------------------------------------------------------ */

static req_result c_continue_errors(stream_ctx *s) {
#if PW_ABI >= 20
  report_status(&s->rep, "continue-bad-type", proxy_continue_stream(4));
  report_status(&s->rep, "close-bad-type", proxy_close_stream(9));
  report_status(&s->rep, "continue-upstream", proxy_continue_stream(PW_STREAM_UPSTREAM));
#else
  report_status(&s->rep, "continue-request-not-paused", proxy_continue_request());
  report_status(&s->rep, "continue-response-not-paused", proxy_continue_response());
#endif
  return R_REPLY;
}

/* /hostcalls/pause/tick: pauses; the next on_tick adds x-hc-resumed-by: tick and resumes.
 * /hostcalls/pause/same_callback: resumes inside the callback that returns Pause.
 * /hostcalls/pause/response: pauses in on_response_headers; the next on_tick resumes. */
static req_result c_pause(stream_ctx *s) {
  if (strcmp(s->arg, "tick") == 0) {
    wait_for_tick(s, WAIT_REQUEST);
    return R_PAUSE;
  }
  if (strcmp(s->arg, "same_callback") == 0) {
    report_status(&s->rep, "continue-in-same-callback", resume_request());
    return R_PAUSE;
  }
  if (strcmp(s->arg, "response") == 0) return R_CONTINUE;
  report_add(&s->rep, "error", "use pause/tick, pause/same_callback or pause/response");
  reply_report(s, 400);
  return R_REPLIED;
}

static int r_pause(stream_ctx *s) {
  if (strcmp(s->arg, "response") != 0) return PW_ACTION_CONTINUE;
  wait_for_tick(s, WAIT_RESPONSE);
  return PW_ACTION_PAUSE;
}

/* /hostcalls/close/request: close_stream(request) in on_request_headers;
 * /hostcalls/close/response: close_stream(response) in on_response_headers. */
static req_result c_close(stream_ctx *s) {
#if PW_ABI >= 20
  if (strcmp(s->arg, "request") == 0) {
    plog(PW_LOG_INFO, "close_stream(request) -> %d", proxy_close_stream(PW_STREAM_REQUEST));
    s->replied = 1;
    return R_PAUSE;
  }
  if (strcmp(s->arg, "response") == 0) return R_CONTINUE;
  report_add(&s->rep, "error", "use close/request or close/response");
  reply_report(s, 400);
  return R_REPLIED;
#else
  report_add(&s->rep, "unsupported", "proxy_close_stream needs ABI 0.2.x");
  reply_report(s, 501);
  return R_REPLIED;
#endif
}

static int r_close(stream_ctx *s) {
#if PW_ABI >= 20
  if (strcmp(s->arg, "response") == 0) {
    plog(PW_LOG_INFO, "close_stream(response) -> %d", proxy_close_stream(PW_STREAM_RESPONSE));
    s->replied = 1;
    return PW_ACTION_PAUSE;
  }
#endif
  (void)s;
  return PW_ACTION_CONTINUE;
}

/* /hostcalls/on_log: in on_log, reads :path and :status and tries to add a request header. */
static void l_on_log(stream_ctx *s) {
  pw_status st_path, st_status;
  char *path = get_map_value(PW_MAP_HTTP_REQUEST_HEADERS, ":path", &st_path);
  char *status = get_map_value(PW_MAP_HTTP_RESPONSE_HEADERS, ":status", &st_status);
  pw_status st_add = add_header(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-in-log", "1");
  plog(PW_LOG_INFO, "on_log %u path=%s (%d) status=%s (%d) add-header=%d", s->id, path ? path : "-", st_path,
       status ? status : "-", st_status, st_add);
  free(path);
  free(status);
}

static const case_def cases[] = {
    {.prefix = "/hostcalls/headers/get", .on_request_headers = c_headers_get},
    {.prefix = "/hostcalls/headers/value", .on_request_headers = c_headers_value},
    {.prefix = "/hostcalls/headers/mutate", .on_request_headers = c_headers_mutate},
    {.prefix = "/hostcalls/headers/set_pairs", .on_request_headers = c_headers_set_pairs},
    {.prefix = "/hostcalls/headers/errors", .on_request_headers = c_headers_errors},
    {.prefix = "/hostcalls/headers/response", .on_request_headers = c_continue, .on_response_headers = r_headers_response},
    {.prefix = "/hostcalls/body", .on_request_headers = c_body_start, .on_request_body = b_body},
    {.prefix = "/hostcalls/response_body",
     .on_request_headers = c_continue,
     .on_response_headers = r_response_body_headers,
     .on_response_body = rb_response_body},
    {.prefix = "/hostcalls/trailers",
     .on_request_headers = c_continue,
     .on_request_body = t_body,
     .on_request_trailers = t_request_trailers},
    {.prefix = "/hostcalls/local_response", .on_request_headers = c_local_response, .on_response_headers = r_local_response},
    {.prefix = "/hostcalls/continue/errors", .on_request_headers = c_continue_errors},
    {.prefix = "/hostcalls/pause", .on_request_headers = c_pause, .on_response_headers = r_pause},
    {.prefix = "/hostcalls/close", .on_request_headers = c_close, .on_response_headers = r_close},
    {.prefix = "/hostcalls/on_log", .on_request_headers = c_continue, .on_log = l_on_log},
};

int http_cases(const case_def **out) {
  *out = cases;
  return (int)(sizeof cases / sizeof cases[0]);
}
