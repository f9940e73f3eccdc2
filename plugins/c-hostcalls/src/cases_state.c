/* Cases for shared data (CAS), shared queues and metrics. */
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

static req_result bad_request(stream_ctx *s, const char *why) {
  report_add(&s->rep, "error", "%s", why);
  reply_report(s, 400);
  return R_REPLIED;
}

static pw_status sd_set(const char *key, const char *val, uint32_t cas) {
  return proxy_set_shared_data(key, (int32_t)strlen(key), val, (int32_t)strlen(val), cas);
}

/* Reads key; reports "<prefix>" status and, when found, "<prefix>-value" / "<prefix>-cas". */
static uint32_t sd_get(stream_ctx *s, const char *prefix, const char *key) {
  char *p = NULL;
  int32_t n = 0;
  uint32_t cas = 0;
  pw_status st = proxy_get_shared_data(key, (int32_t)strlen(key), &p, &n, &cas);
  report_status(&s->rep, prefix, st);
  if (st == PW_OK) {
    char *k = xprintf("%s-value", prefix);
    char *shown = render_value(p ? p : "", (size_t)n);
    report_add(&s->rep, k, "%s", shown);
    free(shown);
    free(k);
    k = xprintf("%s-cas", prefix);
    report_add(&s->rep, k, "%u", cas);
    free(k);
  }
  free(p);
  return cas;
}

/* /hostcalls/shared_data/set/<key>/<value> (CAS from the x-hc-cas header, default 0) */
static req_result c_sd_set(stream_ctx *s) {
  const char *slash = strchr(s->arg, '/');
  if (!*s->arg || !slash) return bad_request(s, "use shared_data/set/<key>/<value>");
  char *key = xstrndup(s->arg, (size_t)(slash - s->arg));
  char *cas_text = get_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-cas", NULL);
  uint32_t cas = cas_text ? (uint32_t)strtoul(cas_text, NULL, 10) : 0;
  report_status(&s->rep, "set", sd_set(key, slash + 1, cas));
  free(cas_text);
  free(key);
  return R_REPLY;
}

/* /hostcalls/shared_data/get/<key>: reports get, get-value, get-cas */
static req_result c_sd_get(stream_ctx *s) {
  if (!*s->arg) return bad_request(s, "use shared_data/get/<key>");
  sd_get(s, "get", s->arg);
  return R_REPLY;
}

/* /hostcalls/shared_data/cas: the compare-and-swap protocol on key c_hostcalls_cas. */
static req_result c_sd_cas(stream_ctx *s) {
  static const char key[] = "c_hostcalls_cas";
  report_status(&s->rep, "set-initial", sd_set(key, "1", 0));
  uint32_t cas1 = sd_get(s, "get-1", key);
  report_status(&s->rep, "set-with-cas", sd_set(key, "2", cas1));
  report_status(&s->rep, "set-stale-cas", sd_set(key, "3", cas1));
  uint32_t cas2 = sd_get(s, "get-2", key);
  report_add(&s->rep, "cas-changed", "%d", cas1 != cas2);
  report_status(&s->rep, "set-unconditional", sd_set(key, "4", 0));
  sd_get(s, "get-3", key);
  return R_REPLY;
}

static req_result c_sd_errors(stream_ctx *s) {
  char *p = NULL;
  int32_t n = 0;
  uint32_t cas = 0;
  static const char missing[] = "c_hostcalls_never_set", probe[] = "c_hostcalls_probe";
  report_status(&s->rep, "get-missing", proxy_get_shared_data(missing, (int32_t)strlen(missing), &p, &n, &cas));
  free(p);
  p = NULL;
  report_status(&s->rep, "get-bad-key-memory", proxy_get_shared_data(BAD_PTR, 8, &p, &n, &cas));
  free(p);
  p = NULL;
  sd_set(probe, "x", 0);
  report_status(&s->rep, "get-bad-ret-memory",
                proxy_get_shared_data(probe, (int32_t)strlen(probe), BAD_PPTR, BAD_I32P, BAD_U32P));
  report_status(&s->rep, "set-bad-key-memory", proxy_set_shared_data(BAD_PTR, 8, "v", 1, 0));
  report_status(&s->rep, "set-bad-value-memory", proxy_set_shared_data(probe, (int32_t)strlen(probe), BAD_PTR, 8, 0));
  report_status(&s->rep, "set-cas-on-missing",
                proxy_set_shared_data("c_hostcalls_cas_missing", 23, "v", 1, 12345));
  return R_REPLY;
}

/* --- queues -------------------------------------------------------------------------------------- */

static pw_status resolve(stream_ctx *s, const char *name, uint32_t *id) {
  char *vm_id = get_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-vm-id", NULL);
  const char *v = vm_id ? vm_id : "";
  pw_status st = proxy_resolve_shared_queue(v, (int32_t)strlen(v), name, (int32_t)strlen(name), id);
  report_status(&s->rep, "resolve", st);
  if (st == PW_OK) report_add(&s->rep, "queue-id", "%u", *id);
  free(vm_id);
  return st;
}

/* /hostcalls/queue/register/<name> */
static req_result c_q_register(stream_ctx *s) {
  if (!*s->arg) return bad_request(s, "use queue/register/<name>");
  uint32_t id = 0;
  pw_status st = proxy_register_shared_queue(s->arg, (int32_t)strlen(s->arg), &id);
  report_status(&s->rep, "register", st);
  if (st == PW_OK) report_add(&s->rep, "queue-id", "%u", id);
  return R_REPLY;
}

/* /hostcalls/queue/resolve/<name> (vm id from x-hc-vm-id, default: own) */
static req_result c_q_resolve(stream_ctx *s) {
  if (!*s->arg) return bad_request(s, "use queue/resolve/<name>");
  uint32_t id = 0;
  resolve(s, s->arg, &id);
  return R_REPLY;
}

/* /hostcalls/queue/enqueue/<name>/<value> */
static req_result c_q_enqueue(stream_ctx *s) {
  const char *slash = strchr(s->arg, '/');
  if (!*s->arg || !slash) return bad_request(s, "use queue/enqueue/<name>/<value>");
  char *name = xstrndup(s->arg, (size_t)(slash - s->arg));
  uint32_t id = 0;
  if (resolve(s, name, &id) == PW_OK)
    report_status(&s->rep, "enqueue", proxy_enqueue_shared_queue(id, slash + 1, (int32_t)strlen(slash + 1)));
  free(name);
  return R_REPLY;
}

/* /hostcalls/queue/dequeue/<name> */
static req_result c_q_dequeue(stream_ctx *s) {
  if (!*s->arg) return bad_request(s, "use queue/dequeue/<name>");
  uint32_t id = 0;
  if (resolve(s, s->arg, &id) == PW_OK) {
    char *p = NULL;
    int32_t n = 0;
    pw_status st = proxy_dequeue_shared_queue(id, &p, &n);
    report_status(&s->rep, "dequeue", st);
    if (st == PW_OK) {
      char *shown = render_value(p ? p : "", (size_t)n);
      report_add(&s->rep, "value", "%s", shown);
      free(shown);
    }
    free(p);
  }
  return R_REPLY;
}

static req_result c_q_errors(stream_ctx *s) {
  char *p = NULL;
  int32_t n = 0;
  uint32_t id = 0;
  static const char unknown[] = "c_hostcalls_no_such_queue", empty[] = "c_hostcalls_empty_queue";
  report_status(&s->rep, "resolve-unknown", proxy_resolve_shared_queue("", 0, unknown, (int32_t)strlen(unknown), &id));
  report_status(&s->rep, "resolve-unknown-vm",
                proxy_resolve_shared_queue("c_hostcalls_no_such_vm", 22, empty, (int32_t)strlen(empty), &id));
  report_status(&s->rep, "enqueue-unknown", proxy_enqueue_shared_queue(0x7ffffff0u, "x", 1));
  report_status(&s->rep, "dequeue-unknown", proxy_dequeue_shared_queue(0x7ffffff0u, &p, &n));
  free(p);
  p = NULL;
  report_status(&s->rep, "register-bad-memory", proxy_register_shared_queue(BAD_PTR, 8, &id));
  pw_status st = proxy_register_shared_queue(empty, (int32_t)strlen(empty), &id);
  report_status(&s->rep, "register-empty", st);
  if (st == PW_OK) {
    while (proxy_dequeue_shared_queue(id, &p, &n) == PW_OK) { /* drain leftovers from earlier runs */
      free(p);
      p = NULL;
    }
    report_status(&s->rep, "dequeue-empty", proxy_dequeue_shared_queue(id, &p, &n));
    free(p);
    report_status(&s->rep, "enqueue-bad-memory", proxy_enqueue_shared_queue(id, BAD_PTR, 8));
    report_status(&s->rep, "dequeue-bad-ret-memory", proxy_dequeue_shared_queue(id, BAD_PPTR, BAD_I32P));
  }
  return R_REPLY;
}

/* --- metrics ------------------------------------------------------------------------------------- */

static uint32_t define(stream_ctx *s, const char *key, int32_t type, const char *name) {
  uint32_t id = 0;
  pw_status st = proxy_define_metric(type, name, (int32_t)strlen(name), &id);
  if (key) {
    report_status(&s->rep, key, st);
    char *k = xprintf("%s-id", key);
    report_add(&s->rep, k, "%u", id);
    free(k);
  }
  return id;
}

/* /hostcalls/metrics: define / increment / record / get on every metric type, and the errors. */
static req_result c_metrics(stream_ctx *s) {
  uint32_t c = define(s, "define-counter", PW_METRIC_COUNTER, "c_hostcalls_counter");
  uint32_t g = define(s, "define-gauge", PW_METRIC_GAUGE, "c_hostcalls_gauge");
  uint32_t h = define(s, "define-histogram", PW_METRIC_HISTOGRAM, "c_hostcalls_histogram");
  uint32_t again = define(s, NULL, PW_METRIC_COUNTER, "c_hostcalls_counter");
  report_add(&s->rep, "define-again-same-id", "%d", again == c);
  uint32_t id = 0;
  report_status(&s->rep, "define-bad-type", proxy_define_metric(3, "c_hostcalls_bad", 15, &id));
  report_status(&s->rep, "define-bad-memory", proxy_define_metric(PW_METRIC_COUNTER, BAD_PTR, 8, &id));

  report_status(&s->rep, "increment-counter", proxy_increment_metric(c, 1));
  report_status(&s->rep, "increment-counter-zero", proxy_increment_metric(c, 0));
  report_status(&s->rep, "increment-counter-negative", proxy_increment_metric(c, -1));
  report_status(&s->rep, "record-counter", proxy_record_metric(c, 2));
  uint64_t v = 0;
  report_status(&s->rep, "get-counter", proxy_get_metric(c, &v));
  report_add(&s->rep, "counter-value", "%llu", (unsigned long long)v);

  report_status(&s->rep, "record-gauge", proxy_record_metric(g, 10));
  report_status(&s->rep, "increment-gauge", proxy_increment_metric(g, 5));
  report_status(&s->rep, "decrement-gauge", proxy_increment_metric(g, -2));
  v = 0;
  report_status(&s->rep, "get-gauge", proxy_get_metric(g, &v));
  report_add(&s->rep, "gauge-value", "%lld", (long long)v);

  report_status(&s->rep, "record-histogram", proxy_record_metric(h, 7));
  report_status(&s->rep, "increment-histogram", proxy_increment_metric(h, 1));
  report_status(&s->rep, "get-histogram", proxy_get_metric(h, &v));

  report_status(&s->rep, "increment-unknown", proxy_increment_metric(0x7ffffff0u, 1));
  report_status(&s->rep, "record-unknown", proxy_record_metric(0x7ffffff0u, 1));
  report_status(&s->rep, "get-unknown", proxy_get_metric(0x7ffffff0u, &v));
  report_status(&s->rep, "get-bad-memory", proxy_get_metric(c, BAD_U64P));
  return R_REPLY;
}

/* /hostcalls/metrics/count: c_hostcalls_requests_total.method=<METHOD> += 1, reports its value.
 * /hostcalls/metrics/gauge/<n>: c_hostcalls_gauge = n.  /hostcalls/metrics/observe/<n>: histogram sample. */
static req_result c_metrics_count(stream_ctx *s) {
  char *method = get_map_value(PW_MAP_HTTP_REQUEST_HEADERS, ":method", NULL);
  char *name = xprintf("c_hostcalls_requests_total.method=%s", method ? method : "UNKNOWN");
  uint32_t id = define(s, "define", PW_METRIC_COUNTER, name);
  report_status(&s->rep, "increment", proxy_increment_metric(id, 1));
  uint64_t v = 0;
  report_status(&s->rep, "get", proxy_get_metric(id, &v));
  report_add(&s->rep, "value", "%llu", (unsigned long long)v);
  report_add(&s->rep, "metric", "%s", name);
  free(name);
  free(method);
  return R_REPLY;
}

static req_result c_metrics_gauge(stream_ctx *s) {
  uint32_t g = define(s, "define", PW_METRIC_GAUGE, "c_hostcalls_gauge");
  report_status(&s->rep, "record", proxy_record_metric(g, (uint64_t)strtoll(s->arg, NULL, 10)));
  return R_REPLY;
}

static req_result c_metrics_observe(stream_ctx *s) {
  uint32_t h = define(s, "define", PW_METRIC_HISTOGRAM, "c_hostcalls_histogram");
  report_status(&s->rep, "record", proxy_record_metric(h, strtoull(s->arg, NULL, 10)));
  return R_REPLY;
}

static const case_def cases[] = {
    {.prefix = "/hostcalls/shared_data/set", .on_request_headers = c_sd_set},
    {.prefix = "/hostcalls/shared_data/get", .on_request_headers = c_sd_get},
    {.prefix = "/hostcalls/shared_data/cas", .on_request_headers = c_sd_cas},
    {.prefix = "/hostcalls/shared_data/errors", .on_request_headers = c_sd_errors},
    {.prefix = "/hostcalls/queue/register", .on_request_headers = c_q_register},
    {.prefix = "/hostcalls/queue/resolve", .on_request_headers = c_q_resolve},
    {.prefix = "/hostcalls/queue/enqueue", .on_request_headers = c_q_enqueue},
    {.prefix = "/hostcalls/queue/dequeue", .on_request_headers = c_q_dequeue},
    {.prefix = "/hostcalls/queue/errors", .on_request_headers = c_q_errors},
    {.prefix = "/hostcalls/metrics", .on_request_headers = c_metrics},
    {.prefix = "/hostcalls/metrics/count", .on_request_headers = c_metrics_count},
    {.prefix = "/hostcalls/metrics/gauge", .on_request_headers = c_metrics_gauge},
    {.prefix = "/hostcalls/metrics/observe", .on_request_headers = c_metrics_observe},
};

int state_cases(const case_def **out) {
  *out = cases;
  return (int)(sizeof cases / sizeof cases[0]);
}
