/* Cases for HTTP and gRPC callouts: dispatch, the response callback, and the error paths. */
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

static const char no_cluster[] = "c_hostcalls_no_such_cluster";

static void track_token(stream_ctx *s, uint32_t token) {
  if (s->ntokens < 2) s->tokens[s->ntokens++] = token;
}

static pw_status dispatch(stream_ctx *s, const char *cluster, const char *method, const char *body, int with_trailers,
                          uint32_t *token) {
  char *path = get_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-call-path", NULL);
  char *timeout = get_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-timeout-ms", NULL);
  uint32_t timeout_ms = timeout ? (uint32_t)strtoul(timeout, NULL, 10) : 5000;
  const char *kv[] = {":method", method, ":path", path ? path : "/", ":authority", cluster,
                      "x-hc-call", "1", "content-type", "text/plain"};
  sbuf h = {0}, t = {0};
  pairs_encode(&h, kv, body && *body ? 5 : 4);
  static const char *const tkv[] = {"x-hc-trailer", "t"};
  pairs_encode(&t, tkv, with_trailers ? 1 : 0);
  pw_status st = proxy_http_call(cluster, (int32_t)strlen(cluster), h.data, (int32_t)h.len, body ? body : "",
                                 body ? (int32_t)strlen(body) : 0, t.data, (int32_t)t.len, timeout_ms, token);
  sb_free(&h);
  sb_free(&t);
  free(path);
  free(timeout);
  (void)s;
  return st;
}

/* /hostcalls/http_call/<cluster> (GET), /hostcalls/http_call_post/<cluster> (POST with a body and a
 * trailer), /hostcalls/http_call_twice/<cluster> (two calls; replies when both answered). */
static req_result c_http_call(stream_ctx *s) {
  const char *cluster = *s->arg ? s->arg : no_cluster;
  int post = strstr(s->kase->prefix, "_post") != NULL;
  int twice = strstr(s->kase->prefix, "_twice") != NULL;
  for (int i = 0; i < (twice ? 2 : 1); i++) {
    uint32_t token = 0;
    pw_status st = dispatch(s, cluster, post ? "POST" : "GET", post ? "c-hostcalls request body" : NULL, post, &token);
    const char *key = i == 0 ? "http-call" : "http-call-2";
    report_status(&s->rep, key, st);
    if (st != PW_OK) return R_REPLY;
    report_add(&s->rep, i == 0 ? "http-call-token" : "http-call-token-2", "%u", token);
    track_token(s, token);
  }
  return R_PAUSE;
}

static void collect_status(void *arg, const char *k, size_t kl, const char *v, size_t vl) {
  if (kl == 7 && memcmp(k, ":status", 7) == 0) *(char **)arg = xstrndup(v, vl);
}

static void h_http_call_response(stream_ctx *s, uint32_t token, uint32_t nh, uint32_t body, uint32_t nt) {
  int second = s->ntokens == 2 && token == s->tokens[1];
  const char *sfx = second ? "-2" : "";
  char key[64];
#define K(name) (strcpy(key, name), strcat(key, sfx), key)
  report_add(&s->rep, K("call-headers"), "%u", nh);
  report_add(&s->rep, K("call-body-size"), "%u", body);
  report_add(&s->rep, K("call-trailers"), "%u", nt);
  if (nh == 0) {
    uint32_t code = 0;
    char *msg = NULL;
    int32_t n = 0;
    report_status(&s->rep, K("get-status"), proxy_get_status(&code, &msg, &n));
    report_add(&s->rep, K("status-code"), "%u", code);
    char *shown = render_value(msg ? msg : "", msg ? (size_t)n : 0);
    report_add(&s->rep, K("status-message"), "%s", shown);
    free(shown);
    free(msg);
  } else {
    char *p = NULL;
    int32_t n = 0;
    pw_status st = proxy_get_header_map_pairs(PW_MAP_HTTP_CALL_RESPONSE_HEADERS, &p, &n);
    report_status(&s->rep, K("get-call-headers"), st);
    char *status = NULL;
    if (st == PW_OK) pairs_decode(p, (size_t)n, collect_status, &status);
    if (status) report_add(&s->rep, K("call-status"), "%s", status);
    free(status);
    free(p);
    p = NULL;
    if (!second) {
      st = proxy_get_buffer_bytes(PW_BUFFER_HTTP_CALL_RESPONSE_BODY, 0, body, &p, &n);
      report_status(&s->rep, "get-call-body", st);
      if (st == PW_OK && p) sb_append(&s->body, p, (size_t)n);
      free(p);
    }
  }
#undef K
  s->done_calls++;
  if (s->done_calls >= s->ntokens) reply_report(s, 200);
}

/* /hostcalls/http_call_errors[/<cluster>]: bad requests that the host must refuse. Give an existing
 * cluster so that the missing-header checks are the only reason for a refusal. */
static req_result c_http_call_errors(stream_ctx *s) {
  const char *cluster = *s->arg ? s->arg : no_cluster;
  uint32_t token = 0;
  sbuf h = {0};
  const char *full[] = {":method", "GET", ":path", "/", ":authority", cluster};
  pairs_encode(&h, full, 3);
  report_status(&s->rep, "call-unknown-cluster",
                proxy_http_call(no_cluster, (int32_t)strlen(no_cluster), h.data, (int32_t)h.len, "", 0, NULL, 0, 1000,
                                &token));
  report_status(&s->rep, "call-empty-cluster",
                proxy_http_call("", 0, h.data, (int32_t)h.len, "", 0, NULL, 0, 1000, &token));
  report_status(&s->rep, "call-bad-cluster-memory",
                proxy_http_call(BAD_PTR, 8, h.data, (int32_t)h.len, "", 0, NULL, 0, 1000, &token));
  report_status(&s->rep, "call-bad-headers-memory",
                proxy_http_call(cluster, (int32_t)strlen(cluster), BAD_PTR, 64, "", 0, NULL, 0, 1000, &token));
  sb_free(&h);
  static const char *const names[] = {"call-no-method", "call-no-path", "call-no-authority"};
  for (int skip = 0; skip < 3; skip++) {
    const char *kv[4];
    int k = 0;
    for (int i = 0; i < 3; i++) {
      if (i == skip) continue;
      kv[k++] = full[2 * i];
      kv[k++] = full[2 * i + 1];
    }
    pairs_encode(&h, kv, 2);
    report_status(&s->rep, names[skip],
                  proxy_http_call(cluster, (int32_t)strlen(cluster), h.data, (int32_t)h.len, "", 0, NULL, 0, 1000,
                                  &token));
    sb_free(&h);
  }
  return R_REPLY;
}

/* /hostcalls/http_call_trap/<cluster>: the plugin traps in on_http_call_response. */
static void h_trap(stream_ctx *s, uint32_t token, uint32_t nh, uint32_t body, uint32_t nt) {
  (void)s, (void)token, (void)nh, (void)body, (void)nt;
  misbehave("trap", "on_http_call_response");
}

/* --- gRPC ---------------------------------------------------------------------------------------- */

static req_result c_grpc_errors(stream_ctx *s) {
  static const char svc[] = "c.hostcalls.Test", method[] = "Echo";
  uint32_t token = 0;
  report_status(&s->rep, "grpc-call-unknown-cluster",
                proxy_grpc_call(no_cluster, (int32_t)strlen(no_cluster), svc, (int32_t)strlen(svc), method,
                                (int32_t)strlen(method), "\0\0\0\0", 4, "ping", 4, 1000, &token));
  report_status(&s->rep, "grpc-stream-unknown-cluster",
                proxy_grpc_stream(no_cluster, (int32_t)strlen(no_cluster), svc, (int32_t)strlen(svc), method,
                                  (int32_t)strlen(method), "\0\0\0\0", 4, &token));
  report_status(&s->rep, "grpc-call-bad-memory",
                proxy_grpc_call(BAD_PTR, 8, svc, (int32_t)strlen(svc), method, (int32_t)strlen(method), "\0\0\0\0", 4,
                                "ping", 4, 1000, &token));
  report_status(&s->rep, "grpc-send-unknown", proxy_grpc_send(0x7ffffff0u, "x", 1, 0));
  report_status(&s->rep, "grpc-cancel-unknown", proxy_grpc_cancel(0x7ffffff0u));
  report_status(&s->rep, "grpc-close-unknown", proxy_grpc_close(0x7ffffff0u));
  return R_REPLY;
}

/* /hostcalls/grpc/call/<cluster>: a unary call; replies with the close status. */
static req_result c_grpc_call(stream_ctx *s) {
  static const char svc[] = "c.hostcalls.Test", method[] = "Echo";
  const char *cluster = *s->arg ? s->arg : no_cluster;
  uint32_t token = 0;
  pw_status st = proxy_grpc_call(cluster, (int32_t)strlen(cluster), svc, (int32_t)strlen(svc), method,
                                 (int32_t)strlen(method), "\0\0\0\0", 4, "ping", 4, 5000, &token);
  report_status(&s->rep, "grpc-call", st);
  if (st != PW_OK) return R_REPLY;
  report_add(&s->rep, "grpc-token", "%u", token);
  track_token(s, token);
  return R_PAUSE;
}

static void g_close(stream_ctx *s, uint32_t token, uint32_t status) {
  (void)token;
  report_add(&s->rep, "grpc-close-status", "%u", status);
  uint32_t code = 0;
  char *msg = NULL;
  int32_t n = 0;
  report_status(&s->rep, "get-status", proxy_get_status(&code, &msg, &n));
  report_add(&s->rep, "status-code", "%u", code);
  char *shown = render_value(msg ? msg : "", msg ? (size_t)n : 0);
  report_add(&s->rep, "status-message", "%s", shown);
  free(shown);
  free(msg);
  reply_report(s, 200);
}

static const case_def cases[] = {
    {.prefix = "/hostcalls/http_call", .on_request_headers = c_http_call, .on_http_call_response = h_http_call_response},
    {.prefix = "/hostcalls/http_call_post",
     .on_request_headers = c_http_call,
     .on_http_call_response = h_http_call_response},
    {.prefix = "/hostcalls/http_call_twice",
     .on_request_headers = c_http_call,
     .on_http_call_response = h_http_call_response},
    {.prefix = "/hostcalls/http_call_errors", .on_request_headers = c_http_call_errors},
    {.prefix = "/hostcalls/http_call_trap", .on_request_headers = c_http_call, .on_http_call_response = h_trap},
    {.prefix = "/hostcalls/grpc/errors", .on_request_headers = c_grpc_errors},
    {.prefix = "/hostcalls/grpc/call", .on_request_headers = c_grpc_call, .on_grpc_close = g_close},
};

int callout_cases(const case_def **out) {
  *out = cases;
  return (int)(sizeof cases / sizeof cases[0]);
}
