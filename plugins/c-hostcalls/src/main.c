/*
 * c-hostcalls: one C plugin that drives every proxy-wasm host call, including the error paths,
 * selected by request path (/hostcalls/...). See plugins/README.md for every case.
 *
 * This file holds the exported callbacks: the context tables, configuration, lifecycle logs, and
 * the dispatch of each stream callback to the case chosen by the request path.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

int g_lifecycle_level = PW_LOG_DEBUG;
int g_malloc_returns_null = 0;
uint32_t g_stream_counter = 0;

static root_ctx *g_roots;
static stream_ctx *g_streams;

/* --- allocator and ABI marker ---------------------------------------------------------------------- */

PW_EXPORT(malloc) void *hc_malloc(size_t size) {
  if (g_malloc_returns_null) return NULL;
  return malloc(size);
}

#ifndef PW_NO_ABI_MARKER
#if PW_ABI == 21
PW_EXPORT(proxy_abi_version_0_2_1) void proxy_abi_version_0_2_1(void) {}
#elif PW_ABI == 20
PW_EXPORT(proxy_abi_version_0_2_0) void proxy_abi_version_0_2_0(void) {}
#else
PW_EXPORT(proxy_abi_version_0_1_0) void proxy_abi_version_0_1_0(void) {}
#endif
#endif

/* Runs from _initialize: lets a test make instantiation itself misbehave through the environment. */
__attribute__((constructor)) static void at_initialize(void) {
  const char *mode = getenv("C_HOSTCALLS_ON_INITIALIZE");
  if (mode) misbehave(mode, "_initialize");
}

/* --- context tables -------------------------------------------------------------------------------- */

root_ctx *find_root(uint32_t id) {
  for (root_ctx *r = g_roots; r; r = r->next)
    if (r->id == id) return r;
  return NULL;
}

stream_ctx *find_stream(uint32_t id) {
  for (stream_ctx *s = g_streams; s; s = s->next)
    if (s->id == id) return s;
  return NULL;
}

stream_ctx *first_stream(void) { return g_streams; }

static root_ctx *new_root(uint32_t id) {
  root_ctx *r = calloc(1, sizeof *r);
  if (!r) __builtin_trap();
  r->id = id;
  r->next = g_roots;
  g_roots = r;
  return r;
}

PW_EXPORT(proxy_on_context_create) void proxy_on_context_create(uint32_t id, uint32_t parent) {
  plog(g_lifecycle_level, "on_context_create %u parent=%u", id, parent);
  if (parent == 0) {
    if (!find_root(id)) new_root(id);
    return;
  }
  stream_ctx *s = calloc(1, sizeof *s);
  if (!s) __builtin_trap();
  s->id = id;
  s->root_id = parent;
  s->arg = "";
  s->next = g_streams;
  g_streams = s;
}

static void free_stream(uint32_t id) {
  for (stream_ctx **p = &g_streams; *p; p = &(*p)->next) {
    if ((*p)->id == id) {
      stream_ctx *s = *p;
      *p = s->next;
      report_clear(&s->rep);
      sb_free(&s->body);
      free(s->path);
      free(s);
      return;
    }
  }
}

static void free_root(uint32_t id) {
  for (root_ctx **p = &g_roots; *p; p = &(*p)->next) {
    if ((*p)->id == id) {
      root_ctx *r = *p;
      *p = r->next;
      report_clear(&r->rep);
      free(r->config);
      free(r);
      return;
    }
  }
}

/* --- configuration ------------------------------------------------------------------------------- */

/* Reads the VM (6) or plugin (7) configuration; 0.1.0 has proxy_get_configuration instead. */
static char *read_configuration(int32_t buffer_type, uint32_t size, size_t *len, pw_status *st) {
  char *p = NULL;
  int32_t n = 0;
#if PW_ABI == 10
  (void)buffer_type;
  (void)size;
  *st = proxy_get_configuration(&p, &n);
#else
  *st = proxy_get_buffer_bytes(buffer_type, 0, size, &p, &n);
#endif
  if (*st != PW_OK || !p) n = 0;
  char *text = xstrndup(p ? p : "", (size_t)n);
  free(p);
  *len = (size_t)n;
  return text;
}

PW_EXPORT(proxy_on_vm_start) int32_t proxy_on_vm_start(uint32_t root_id, uint32_t vm_config_size) {
  plog(g_lifecycle_level, "on_vm_start %u vm_config_size=%u", root_id, vm_config_size);
  root_ctx *r = find_root(root_id);
  if (!r) r = new_root(root_id);
  size_t len = 0;
  pw_status st;
  char *vm_config = read_configuration(PW_BUFFER_VM_CONFIGURATION, vm_config_size, &len, &st);
  report_status(&r->rep, "vm-start-get-vm-config", st);
  report_add(&r->rep, "vm-start-vm-config-size", "%zu", len);
  char mode[16] = "";
  if (!json_string(vm_config, len, "on_vm_start", mode, sizeof mode)) {
    const char *env = getenv("C_HOSTCALLS_ON_VM_START");
    if (env) {
      strncpy(mode, env, sizeof mode - 1);
      mode[sizeof mode - 1] = 0;
    }
  }
  free(vm_config);
  return misbehave(mode, "on_vm_start");
}

PW_EXPORT(proxy_validate_configuration) int32_t proxy_validate_configuration(uint32_t root_id, uint32_t size) {
  size_t len = 0;
  pw_status st;
  char *config = read_configuration(PW_BUFFER_PLUGIN_CONFIGURATION, size, &len, &st);
  char mode[16] = "";
  json_string(config, len, "validate", mode, sizeof mode);
  int ok = json_is_object_or_empty(config, len) && strcmp(mode, "fail") != 0;
  plog(g_lifecycle_level, "validate_configuration %u size=%u -> %d", root_id, size, ok);
  free(config);
  return ok;
}

/* Host calls a root context may make during on_configure; their statuses go to the root report. */
static void probe_root_context(root_ctx *r) {
  static const char *const props[] = {"plugin_name", "plugin_root_id", "plugin_vm_id", "request.path"};
  for (unsigned i = 0; i < sizeof props / sizeof props[0]; i++) {
    int32_t plen;
    char *path = property_path(props[i], &plen);
    char *val = NULL;
    int32_t n = 0;
    pw_status st = proxy_get_property(path, plen, &val, &n);
    char *key = xprintf("configure-property-%s", props[i]);
    report_status(&r->rep, key, st);
    free(key);
    if (st == PW_OK) {
      char *shown = render_value(val ? val : "", (size_t)n);
      key = xprintf("configure-%s", props[i]);
      report_add(&r->rep, key, "%s", shown);
      free(key);
      free(shown);
    }
    free(val);
    free(path);
  }
  report_status(&r->rep, "configure-set-plugin-config",
                proxy_set_buffer_bytes(PW_BUFFER_PLUGIN_CONFIGURATION, 0, 0, "x", 1));
  char *p = NULL;
  int32_t n = 0;
  pw_status st = proxy_get_buffer_bytes(PW_BUFFER_HTTP_REQUEST_BODY, 0, 16, &p, &n);
  report_status(&r->rep, "configure-get-request-body", st);
  free(p);
  p = NULL;
  st = proxy_get_header_map_pairs(PW_MAP_HTTP_REQUEST_HEADERS, &p, &n);
  report_status(&r->rep, "configure-get-request-headers", st);
  free(p);
  uint32_t id = 0;
  static const char counter[] = "c_hostcalls_streams_total";
  st = proxy_define_metric(PW_METRIC_COUNTER, counter, (int32_t)strlen(counter), &id);
  report_status(&r->rep, "configure-define-metric", st);
  if (st == PW_OK) g_stream_counter = id;
}

PW_EXPORT(proxy_on_configure) int32_t proxy_on_configure(uint32_t root_id, uint32_t config_size) {
  root_ctx *r = find_root(root_id);
  if (!r) r = new_root(root_id);
  report_clear(&r->rep);
  size_t len = 0;
  pw_status st;
  char *config = read_configuration(PW_BUFFER_PLUGIN_CONFIGURATION, config_size, &len, &st);
  free(r->config);
  r->config = config;
  r->config_len = len;
  report_status(&r->rep, "configure-get-config", st);
  report_add(&r->rep, "configure-config-size", "%zu", len);

  int flag = 0;
  if (json_bool(config, len, "log_callbacks", &flag)) g_lifecycle_level = flag ? PW_LOG_INFO : PW_LOG_DEBUG;
  plog(g_lifecycle_level, "on_configure %u config_size=%u", root_id, config_size);
  if (!json_is_object_or_empty(config, len)) {
    plog(PW_LOG_ERROR, "configuration is not a JSON object");
    return 0;
  }
  char mode[16] = "";
  json_string(config, len, "on_configure", mode, sizeof mode);
  if (!misbehave(mode, "on_configure")) return 0;

  r->defer_done = json_bool(config, len, "defer_done", &flag) && flag;
  r->dequeue_on_ready = json_bool(config, len, "dequeue_on_ready", &flag) && flag;
  r->on_tick[0] = 0;
  json_string(config, len, "on_tick", r->on_tick, sizeof r->on_tick);
  probe_root_context(r);
  long long period = 0;
  if (json_int(config, len, "tick_period_ms", &period) && period > 0) {
    r->user_tick_ms = (uint32_t)period;
    report_status(&r->rep, "configure-set-tick-period", proxy_set_tick_period_milliseconds((uint32_t)period));
  }
  plog(PW_LOG_INFO, "configured root %u (%zu bytes of configuration)", root_id, len);
  return 1;
}

/* --- timers, queues, foreign functions ------------------------------------------------------------ */

PW_EXPORT(proxy_on_tick) void proxy_on_tick(uint32_t root_id) {
  root_ctx *r = find_root(root_id);
  uint64_t n = r ? ++r->ticks : 0;
  plog(g_lifecycle_level, "on_tick %u count=%llu", root_id, (unsigned long long)n);
  if (!r) return;
  if (r->on_tick[0]) misbehave(r->on_tick, "on_tick");
  for (stream_ctx *s = g_streams; s; s = s->next) {
    if (!s->wait_tick || s->root_id != root_id) continue;
    int which = s->wait_tick;
    s->wait_tick = WAIT_NONE;
    report_status(&s->rep, "resume-set-effective-context", proxy_set_effective_context(s->id));
    pw_status st;
    if (which == WAIT_REQUEST) {
      report_status(&s->rep, "resume-add-header",
                    proxy_add_header_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-resumed-by", 15, "tick", 4));
      st = resume_request();
    } else {
      proxy_add_header_map_value(PW_MAP_HTTP_RESPONSE_HEADERS, "x-hc-resumed-by", 15, "tick", 4);
      st = resume_response();
    }
    report_status(&s->rep, "resume", st);
    plog(g_lifecycle_level, "resumed stream %u -> %d", s->id, st);
  }
  int waiting = 0;
  for (stream_ctx *s = g_streams; s; s = s->next) waiting |= s->wait_tick != WAIT_NONE && s->root_id == root_id;
  if (r->wait_ticking && !waiting && !r->done_pending) {
    /* The timer was started for paused streams and none is left: back to the configured period. */
    r->wait_ticking = 0;
    proxy_set_effective_context(root_id);
    proxy_set_tick_period_milliseconds(r->user_tick_ms);
  }
  if (r->done_pending) {
    r->done_pending = 0;
    proxy_set_effective_context(root_id);
    proxy_set_tick_period_milliseconds(0);
    plog(PW_LOG_INFO, "proxy_done -> %d", proxy_done());
  }
}

PW_EXPORT(proxy_on_queue_ready) void proxy_on_queue_ready(uint32_t root_id, uint32_t queue_id) {
  plog(PW_LOG_INFO, "on_queue_ready %u queue=%u", root_id, queue_id);
  root_ctx *r = find_root(root_id);
  if (!r || !r->dequeue_on_ready) return;
  for (;;) {
    char *p = NULL;
    int32_t n = 0;
    pw_status st = proxy_dequeue_shared_queue(queue_id, &p, &n);
    if (st != PW_OK) break;
    char *shown = render_value(p ? p : "", (size_t)n);
    plog(PW_LOG_INFO, "dequeued %s", shown);
    free(shown);
    free(p);
  }
}

#if PW_ABI >= 20
PW_EXPORT(proxy_on_foreign_function)
void proxy_on_foreign_function(uint32_t root_id, uint32_t function_id, uint32_t args_size) {
  char *p = NULL;
  int32_t n = 0;
  pw_status st = proxy_get_buffer_bytes(PW_BUFFER_FOREIGN_FUNCTION_ARGUMENTS, 0, args_size, &p, &n);
  char *shown = render_value(p ? p : "", st == PW_OK ? (size_t)n : 0);
  plog(PW_LOG_INFO, "on_foreign_function %u function=%u args=%s (get_buffer_bytes -> %d)", root_id, function_id,
       shown, st);
  free(shown);
  free(p);
}
#endif

/* --- HTTP stream callbacks -------------------------------------------------------------------------- */

/* The longest case prefix that equals the path or is followed by '/' wins. */
static const case_def *match_case(const char *path, const char **arg) {
  static int (*const groups[])(const case_def **) = {basic_cases, http_cases, callout_cases, state_cases,
                                                     misbehave_cases};
  const case_def *best = NULL;
  size_t best_len = 0;
  for (unsigned g = 0; g < sizeof groups / sizeof groups[0]; g++) {
    const case_def *cases;
    int ncases = groups[g](&cases);
    for (int i = 0; i < ncases; i++) {
      size_t n = strlen(cases[i].prefix);
      if (strncmp(path, cases[i].prefix, n) != 0 || (path[n] != 0 && path[n] != '/')) continue;
      if (n > best_len) {
        best = &cases[i];
        best_len = n;
        *arg = path[n] == '/' ? path + n + 1 : path + n;
      }
    }
  }
  return best;
}

static int request_headers(uint32_t id, uint32_t nheaders, int eos) {
  plog(g_lifecycle_level, "on_request_headers %u headers=%u eos=%d", id, nheaders, eos);
  stream_ctx *s = find_stream(id);
  if (!s) return PW_ACTION_CONTINUE;
  if (g_stream_counter) proxy_increment_metric(g_stream_counter, 1);
  char *path = get_map_value(PW_MAP_HTTP_REQUEST_HEADERS, ":path", NULL);
  if (!path) return PW_ACTION_CONTINUE;
  char *q = strchr(path, '?');
  if (q) *q = 0;
  free(s->path);
  s->path = path;
  s->headers_eos = eos;
  s->kase = match_case(path, &s->arg);
  if (!s->kase) {
    if (strncmp(path, "/hostcalls/", 11) != 0) return PW_ACTION_CONTINUE;
    report_add(&s->rep, "error", "unknown case");
    reply_report(s, 404);
    return PW_ACTION_PAUSE;
  }
  switch (s->kase->on_request_headers ? s->kase->on_request_headers(s) : R_CONTINUE) {
    case R_REPLY:
      reply_report(s, 200);
      return PW_ACTION_PAUSE;
    case R_CONTINUE:
      return PW_ACTION_CONTINUE;
    case R_PAUSE:
    case R_REPLIED:
      return PW_ACTION_PAUSE;
  }
  return PW_ACTION_CONTINUE;
}

static int response_headers(uint32_t id, uint32_t nheaders, int eos) {
  plog(g_lifecycle_level, "on_response_headers %u headers=%u eos=%d", id, nheaders, eos);
  stream_ctx *s = find_stream(id);
  if (!s || !s->kase || s->replied) return PW_ACTION_CONTINUE;
  int action = s->kase->on_response_headers ? s->kase->on_response_headers(s) : PW_ACTION_CONTINUE;
  if (!s->replied) report_to_response_headers(s);
  return action;
}

#if PW_ABI == 10
PW_EXPORT(proxy_on_request_headers) int32_t proxy_on_request_headers(uint32_t id, uint32_t n) {
  return request_headers(id, n, 0);
}
PW_EXPORT(proxy_on_response_headers) int32_t proxy_on_response_headers(uint32_t id, uint32_t n) {
  return response_headers(id, n, 0);
}
#else
PW_EXPORT(proxy_on_request_headers) int32_t proxy_on_request_headers(uint32_t id, uint32_t n, int32_t eos) {
  return request_headers(id, n, eos);
}
PW_EXPORT(proxy_on_response_headers) int32_t proxy_on_response_headers(uint32_t id, uint32_t n, int32_t eos) {
  return response_headers(id, n, eos);
}
#endif

PW_EXPORT(proxy_on_request_body) int32_t proxy_on_request_body(uint32_t id, uint32_t size, int32_t eos) {
  plog(g_lifecycle_level, "on_request_body %u size=%u eos=%d", id, size, eos);
  stream_ctx *s = find_stream(id);
  if (!s || !s->kase || s->replied || !s->kase->on_request_body) return PW_ACTION_CONTINUE;
  s->body_calls++;
  return s->kase->on_request_body(s, size, eos);
}

PW_EXPORT(proxy_on_request_trailers) int32_t proxy_on_request_trailers(uint32_t id, uint32_t n) {
  plog(g_lifecycle_level, "on_request_trailers %u trailers=%u", id, n);
  stream_ctx *s = find_stream(id);
  if (!s || !s->kase || s->replied || !s->kase->on_request_trailers) return PW_ACTION_CONTINUE;
  return s->kase->on_request_trailers(s, n);
}

PW_EXPORT(proxy_on_response_body) int32_t proxy_on_response_body(uint32_t id, uint32_t size, int32_t eos) {
  plog(g_lifecycle_level, "on_response_body %u size=%u eos=%d", id, size, eos);
  stream_ctx *s = find_stream(id);
  if (!s || !s->kase || s->replied || !s->kase->on_response_body) return PW_ACTION_CONTINUE;
  return s->kase->on_response_body(s, size, eos);
}

PW_EXPORT(proxy_on_response_trailers) int32_t proxy_on_response_trailers(uint32_t id, uint32_t n) {
  plog(g_lifecycle_level, "on_response_trailers %u trailers=%u", id, n);
  return PW_ACTION_CONTINUE;
}

/* --- callouts ------------------------------------------------------------------------------------- */

static stream_ctx *stream_for_token(uint32_t token) {
  for (stream_ctx *s = g_streams; s; s = s->next)
    for (int i = 0; i < s->ntokens; i++)
      if (s->tokens[i] == token) return s;
  return NULL;
}

PW_EXPORT(proxy_on_http_call_response)
void proxy_on_http_call_response(uint32_t root_id, uint32_t token, uint32_t nh, uint32_t body, uint32_t nt) {
  plog(g_lifecycle_level, "on_http_call_response %u token=%u headers=%u body=%u trailers=%u", root_id, token, nh,
       body, nt);
  stream_ctx *s = stream_for_token(token);
  if (!s) {
    plog(PW_LOG_WARN, "http call response for unknown token %u", token);
    return;
  }
  pw_status st = proxy_set_effective_context(s->id);
  report_status(&s->rep, "callout-set-effective-context", st);
  if (s->kase && s->kase->on_http_call_response) s->kase->on_http_call_response(s, token, nh, body, nt);
}

PW_EXPORT(proxy_on_grpc_receive_initial_metadata)
void proxy_on_grpc_receive_initial_metadata(uint32_t root_id, uint32_t token, uint32_t n) {
  plog(g_lifecycle_level, "on_grpc_receive_initial_metadata %u token=%u n=%u", root_id, token, n);
}

PW_EXPORT(proxy_on_grpc_receive) void proxy_on_grpc_receive(uint32_t root_id, uint32_t token, uint32_t size) {
  plog(g_lifecycle_level, "on_grpc_receive %u token=%u size=%u", root_id, token, size);
  stream_ctx *s = stream_for_token(token);
  if (s) report_add(&s->rep, "grpc-message-size", "%u", size);
}

PW_EXPORT(proxy_on_grpc_receive_trailing_metadata)
void proxy_on_grpc_receive_trailing_metadata(uint32_t root_id, uint32_t token, uint32_t n) {
  plog(g_lifecycle_level, "on_grpc_receive_trailing_metadata %u token=%u n=%u", root_id, token, n);
}

PW_EXPORT(proxy_on_grpc_close) void proxy_on_grpc_close(uint32_t root_id, uint32_t token, uint32_t status) {
  plog(g_lifecycle_level, "on_grpc_close %u token=%u status=%u", root_id, token, status);
  stream_ctx *s = stream_for_token(token);
  if (!s) return;
  proxy_set_effective_context(s->id);
  if (s->kase && s->kase->on_grpc_close) s->kase->on_grpc_close(s, token, status);
}

/* --- end of stream / context -------------------------------------------------------------------------- */

PW_EXPORT(proxy_on_log) void proxy_on_log(uint32_t id) {
  plog(g_lifecycle_level, "on_log %u", id);
  stream_ctx *s = find_stream(id);
  if (s && s->kase && s->kase->on_log) s->kase->on_log(s);
}

PW_EXPORT(proxy_on_done) int32_t proxy_on_done(uint32_t id) {
  plog(g_lifecycle_level, "on_done %u", id);
  root_ctx *r = find_root(id);
  if (r && r->defer_done) {
    r->done_pending = 1;
    pw_status st = proxy_set_tick_period_milliseconds(1);
    plog(PW_LOG_INFO, "on_done %u deferred (set_tick_period -> %d)", id, st);
    return 0;
  }
  return 1;
}

PW_EXPORT(proxy_on_delete) void proxy_on_delete(uint32_t id) {
  plog(g_lifecycle_level, "on_delete %u", id);
  if (find_root(id)) free_root(id);
  else free_stream(id);
}

/* --- reports -------------------------------------------------------------------------------------- */

void report_add(report *r, const char *key, const char *fmt, ...) {
  if (r->n == r->cap) {
    r->cap = r->cap ? 2 * r->cap : 16;
    r->keys = realloc(r->keys, (size_t)r->cap * sizeof(char *));
    r->vals = realloc(r->vals, (size_t)r->cap * sizeof(char *));
    if (!r->keys || !r->vals) __builtin_trap();
  }
  sbuf b = {0};
  va_list ap;
  va_start(ap, fmt);
  char small[512];
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  sb_append(&b, small, n < 0 ? 0 : ((size_t)n < sizeof small ? (size_t)n : sizeof small - 1));
  r->keys[r->n] = xstrndup(key, strlen(key));
  r->vals[r->n] = b.data ? b.data : xstrndup("", 0);
  r->n++;
}

void report_status(report *r, const char *key, pw_status st) { report_add(r, key, "%d", st); }

void report_clear(report *r) {
  for (int i = 0; i < r->n; i++) {
    free(r->keys[i]);
    free(r->vals[i]);
  }
  free(r->keys);
  free(r->vals);
  r->keys = r->vals = NULL;
  r->n = r->cap = 0;
}

void reply_report(stream_ctx *s, uint32_t status) {
  int npairs = s->rep.n + 1;
  const char **kv = malloc(sizeof(char *) * 2 * (size_t)npairs);
  char **names = malloc(sizeof(char *) * (size_t)npairs);
  if (!kv || !names) __builtin_trap();
  sbuf body = {0};
  const char *case_name = s->kase ? s->kase->prefix : (s->path ? s->path : "");
  kv[0] = "x-hc-case";
  kv[1] = case_name;
  sb_printf(&body, "case=%s\n", case_name);
  for (int i = 0; i < s->rep.n; i++) {
    names[i] = xprintf("x-hc-%s", s->rep.keys[i]);
    kv[2 * i + 2] = names[i];
    kv[2 * i + 3] = s->rep.vals[i];
    sb_printf(&body, "%s=%s\n", s->rep.keys[i], s->rep.vals[i]);
  }
  if (s->body.len) {
    sb_puts(&body, "\n");
    sb_append(&body, s->body.data, s->body.len);
  }
  sbuf headers = {0};
  pairs_encode(&headers, kv, npairs);
  static const char details[] = "c_hostcalls_report";
  pw_status st = proxy_send_local_response(status, details, (int32_t)strlen(details), body.data, (int32_t)body.len,
                                           headers.data, (int32_t)headers.len, -1);
  if (st != PW_OK) plog(PW_LOG_ERROR, "send_local_response -> %d", st);
  s->replied = 1;
  for (int i = 0; i < s->rep.n; i++) free(names[i]);
  free(names);
  free(kv);
  sb_free(&body);
  sb_free(&headers);
}

void report_to_response_headers(stream_ctx *s) {
  for (int i = 0; i < s->rep.n; i++) {
    char *name = xprintf("x-hc-%s", s->rep.keys[i]);
    proxy_add_header_map_value(PW_MAP_HTTP_RESPONSE_HEADERS, name, (int32_t)strlen(name), s->rep.vals[i],
                               (int32_t)strlen(s->rep.vals[i]));
    free(name);
  }
  report_clear(&s->rep);
}

pw_status resume_request(void) {
#if PW_ABI == 10
  return proxy_continue_request();
#else
  return proxy_continue_stream(PW_STREAM_REQUEST);
#endif
}

pw_status resume_response(void) {
#if PW_ABI == 10
  return proxy_continue_response();
#else
  return proxy_continue_stream(PW_STREAM_RESPONSE);
#endif
}

void wait_for_tick(stream_ctx *s, int which) {
  s->wait_tick = which;
  root_ctx *r = find_root(s->root_id);
  if (r) r->wait_ticking = 1;
  report_status(&s->rep, "wait-set-tick-period", proxy_set_tick_period_milliseconds(10));
}

uint32_t memory_pages(void) { return (uint32_t)__builtin_wasm_memory_size(0); }
