/* Cases for logging, time, timers, contexts, foreign functions, properties, WASI and ABI-specific
 * host calls. Each handler runs in on_request_headers and records what the host returned. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#include "plugin.h"

/* Declared here without _Noreturn: Envoy's proc_exit returns, and the case reports whether it did. */
__attribute__((import_module("wasi_snapshot_preview1"), import_name("proc_exit"))) void hc_proc_exit(int32_t code);

#ifdef PW_UNKNOWN_IMPORT
/* No host provides this function: a module importing it must be refused at load time. */
PW_IMPORT(proxy_c_hostcalls_unknown_function) pw_status proxy_c_hostcalls_unknown_function(void);
#endif

__attribute__((unused)) static req_result unsupported(stream_ctx *s, const char *why) {
  report_add(&s->rep, "unsupported", "%s", why);
  reply_report(s, 501);
  return R_REPLIED;
}

static req_result bad_request(stream_ctx *s, const char *why) {
  report_add(&s->rep, "error", "%s", why);
  reply_report(s, 400);
  return R_REPLIED;
}

/* /hostcalls/log: every level, a bad level, bad memory, an empty message.
 * /hostcalls/log/<text>: logs <text> (exactly, no prefix) at info. */
static req_result c_log(stream_ctx *s) {
  if (*s->arg) {
    report_status(&s->rep, "log", proxy_log(PW_LOG_INFO, s->arg, (int32_t)strlen(s->arg)));
    return R_REPLY;
  }
  static const char *const names[] = {"trace", "debug", "info", "warn", "error", "critical"};
  for (int level = 0; level < 6; level++) {
    char *msg = xprintf(LOG_PREFIX "log level %s", names[level]);
    char *key = xprintf("log-%s", names[level]);
    report_status(&s->rep, key, proxy_log(level, msg, (int32_t)strlen(msg)));
    free(key);
    free(msg);
  }
  static const char msg[] = LOG_PREFIX "log level 6";
  report_status(&s->rep, "log-bad-level", proxy_log(6, msg, (int32_t)strlen(msg)));
  report_status(&s->rep, "log-bad-memory", proxy_log(PW_LOG_INFO, BAD_PTR, 16));
  report_status(&s->rep, "log-empty", proxy_log(PW_LOG_INFO, msg, 0));
  return R_REPLY;
}

static req_result c_log_level(stream_ctx *s) {
#if PW_ABI >= 21
  int32_t level = -1;
  report_status(&s->rep, "get-log-level", proxy_get_log_level(&level));
  report_add(&s->rep, "log-level", "%d", level);
  report_status(&s->rep, "get-log-level-bad-memory", proxy_get_log_level(BAD_I32P));
  return R_REPLY;
#else
  return unsupported(s, "proxy_get_log_level needs ABI 0.2.1");
#endif
}

static req_result c_time(stream_ctx *s) {
  uint64_t ns = 0;
  report_status(&s->rep, "get-time", proxy_get_current_time_nanoseconds(&ns));
  report_add(&s->rep, "time-ns", "%llu", (unsigned long long)ns);
  report_status(&s->rep, "get-time-bad-memory", proxy_get_current_time_nanoseconds(BAD_U64P));
  return R_REPLY;
}

/* /hostcalls/tick/start/<ms>, /hostcalls/tick/stop, /hostcalls/tick/count */
static req_result c_tick(stream_ctx *s) {
  root_ctx *r = find_root(s->root_id);
  if (!r) return bad_request(s, "no root context");
  if (strncmp(s->arg, "start/", 6) == 0 || strcmp(s->arg, "stop") == 0) {
    uint32_t ms = s->arg[0] == 's' && s->arg[2] == 'a' ? (uint32_t)strtoul(s->arg + 6, NULL, 10) : 0;
    r->user_tick_ms = ms;
    report_status(&s->rep, "set-tick-period", proxy_set_tick_period_milliseconds(ms));
    report_add(&s->rep, "tick-period-ms", "%u", ms);
    return R_REPLY;
  }
  if (strcmp(s->arg, "count") == 0) {
    report_add(&s->rep, "tick-count", "%llu", (unsigned long long)r->ticks);
    return R_REPLY;
  }
  return bad_request(s, "use tick/start/<ms>, tick/stop or tick/count");
}

static req_result c_effective_context(stream_ctx *s) {
  report_status(&s->rep, "set-effective-self", proxy_set_effective_context(s->id));
  report_status(&s->rep, "set-effective-unknown", proxy_set_effective_context(0x7ffffff0u));
  report_status(&s->rep, "set-effective-root", proxy_set_effective_context(s->root_id));
  char *p = NULL;
  int32_t n = 0;
  report_status(&s->rep, "root-get-request-headers", proxy_get_header_map_pairs(PW_MAP_HTTP_REQUEST_HEADERS, &p, &n));
  free(p);
  report_status(&s->rep, "set-effective-back", proxy_set_effective_context(s->id));
  return R_REPLY;
}

static req_result c_done(stream_ctx *s) {
  report_status(&s->rep, "done", proxy_done());
  return R_REPLY;
}

/* /hostcalls/foreign/<name>: calls <name> with the x-hc-args header as arguments. */
static req_result c_foreign(stream_ctx *s) {
  char *p = NULL;
  int32_t n = 0;
  if (*s->arg) {
    char *args = get_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-args", NULL);
    const char *a = args ? args : "";
    pw_status st = proxy_call_foreign_function(s->arg, (int32_t)strlen(s->arg), a, (int32_t)strlen(a), &p, &n);
    report_status(&s->rep, "foreign-call", st);
    if (st == PW_OK) {
      char *shown = render_value(p ? p : "", (size_t)n);
      report_add(&s->rep, "foreign-result", "%s", shown);
      report_add(&s->rep, "foreign-result-size", "%d", n);
      free(shown);
    }
    free(p);
    free(args);
  }
  static const char unknown[] = "c_hostcalls_no_such_function";
  p = NULL;
  report_status(&s->rep, "foreign-unknown",
                proxy_call_foreign_function(unknown, (int32_t)strlen(unknown), "", 0, &p, &n));
  free(p);
  p = NULL;
  report_status(&s->rep, "foreign-bad-memory", proxy_call_foreign_function(BAD_PTR, 8, "", 0, &p, &n));
  free(p);
  return R_REPLY;
}

static void report_property(stream_ctx *s, const char *prefix, const char *dotted) {
  int32_t plen;
  char *path = property_path(dotted, &plen);
  char *val = NULL;
  int32_t n = 0;
  pw_status st = proxy_get_property(path, plen, &val, &n);
  char *key = xprintf("%s", prefix);
  report_status(&s->rep, key, st);
  free(key);
  if (st == PW_OK) {
    char *shown = render_value(val ? val : "", (size_t)n);
    if (strcmp(prefix, "get-property") == 0) {
      report_add(&s->rep, "property-value", "%s", shown);
      report_add(&s->rep, "property-size", "%d", n);
    } else {
      report_add(&s->rep, "value-after-set", "%s", shown);
    }
    free(shown);
  }
  free(val);
  free(path);
}

/* /hostcalls/property/<a.b.c>: reads one property (path segments separated by dots). */
static req_result c_property(stream_ctx *s) {
  if (!*s->arg) return bad_request(s, "use property/<dotted.path>");
  report_property(s, "get-property", s->arg);
  return R_REPLY;
}

/* /hostcalls/property_set/<a.b.c>: sets it to the x-hc-value header (default "c-hostcalls"), reads it back. */
static req_result c_property_set(stream_ctx *s) {
  if (!*s->arg) return bad_request(s, "use property_set/<dotted.path>");
  char *value = get_map_value(PW_MAP_HTTP_REQUEST_HEADERS, "x-hc-value", NULL);
  const char *v = value ? value : "c-hostcalls";
  int32_t plen;
  char *path = property_path(s->arg, &plen);
  report_status(&s->rep, "set-property", proxy_set_property(path, plen, v, (int32_t)strlen(v)));
  free(path);
  free(value);
  report_property(s, "get-after-set", s->arg);
  return R_REPLY;
}

static req_result c_property_errors(stream_ctx *s) {
  char *val = NULL;
  int32_t n = 0, plen;
  char *missing = property_path("c_hostcalls.no.such.property", &plen);
  report_status(&s->rep, "get-missing", proxy_get_property(missing, plen, &val, &n));
  free(val);
  val = NULL;
  free(missing);
  report_status(&s->rep, "get-bad-memory", proxy_get_property(BAD_PTR, 12, &val, &n));
  free(val);
  val = NULL;
  char *path = property_path("request.path", &plen);
  report_status(&s->rep, "get-bad-ret-memory", proxy_get_property(path, plen, BAD_PPTR, BAD_I32P));
  report_status(&s->rep, "get-empty-path", proxy_get_property(path, 0, &val, &n));
  free(val);
  free(path);
  char *set = property_path("c_hostcalls.probe", &plen);
  report_status(&s->rep, "set-bad-memory", proxy_set_property(set, plen, BAD_PTR, 8));
  free(set);
  return R_REPLY;
}

/* /hostcalls/root/report: what the root context's host calls returned in on_vm_start/on_configure. */
static req_result c_root_report(stream_ctx *s) {
  root_ctx *r = find_root(s->root_id);
  if (!r) return bad_request(s, "no root context");
  report_add(&s->rep, "root-id", "%u", r->id);
  for (int i = 0; i < r->rep.n; i++) report_add(&s->rep, r->rep.keys[i], "%s", r->rep.vals[i]);
  return R_REPLY;
}

/* /hostcalls/wasi/{stdout,stderr,env/<NAME>,random,clock,proc_exit} */
static req_result c_wasi(stream_ctx *s) {
  const char *a = s->arg;
  if (strcmp(a, "stdout") == 0) {
    printf(LOG_PREFIX "hello on stdout\n");
    fflush(stdout);
    report_add(&s->rep, "printed", "stdout");
    return R_REPLY;
  }
  if (strcmp(a, "stderr") == 0) {
    fprintf(stderr, LOG_PREFIX "hello on stderr\n");
    report_add(&s->rep, "printed", "stderr");
    return R_REPLY;
  }
  if (strncmp(a, "env/", 4) == 0) {
    const char *v = getenv(a + 4);
    if (v) report_add(&s->rep, "env-value", "%s", v);
    else report_add(&s->rep, "env-missing", "1");
    return R_REPLY;
  }
  if (strcmp(a, "random") == 0) {
    uint8_t buf[16];
    report_add(&s->rep, "random", "%d", __wasi_random_get(buf, sizeof buf));
    sbuf b = {0};
    for (unsigned i = 0; i < sizeof buf; i++) sb_printf(&b, "%02x", buf[i]);
    report_add(&s->rep, "random-hex", "%s", b.data);
    sb_free(&b);
    uint8_t *big = malloc(65537);
    if (big) {
      report_add(&s->rep, "random-too-big", "%d", __wasi_random_get(big, 65537));
      free(big);
    }
    return R_REPLY;
  }
  if (strcmp(a, "clock") == 0) {
    __wasi_timestamp_t t = 0;
    report_add(&s->rep, "clock-realtime", "%d", __wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 1, &t));
    report_add(&s->rep, "realtime-ns", "%llu", (unsigned long long)t);
    t = 0;
    report_add(&s->rep, "clock-monotonic", "%d", __wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t));
    report_add(&s->rep, "monotonic-ns", "%llu", (unsigned long long)t);
    report_add(&s->rep, "clock-bad-id", "%d", __wasi_clock_time_get(99, 1, &t));
    return R_REPLY;
  }
  if (strcmp(a, "proc_exit") == 0) {
    plog(PW_LOG_WARN, "calling proc_exit(3)");
    hc_proc_exit(3);
    report_add(&s->rep, "proc-exit-returned", "1");
    return R_REPLY;
  }
  return bad_request(s, "use wasi/stdout, wasi/stderr, wasi/env/<NAME>, wasi/random, wasi/clock or wasi/proc_exit");
}

/* /hostcalls/abi: which ABI this build declares; 0.1.0-only calls on 0.1.0. */
static req_result c_abi(stream_ctx *s) {
#ifdef PW_NO_ABI_MARKER
  report_add(&s->rep, "abi", "none");
#elif PW_ABI == 21
  report_add(&s->rep, "abi", "0.2.1");
#elif PW_ABI == 20
  report_add(&s->rep, "abi", "0.2.0");
#else
  report_add(&s->rep, "abi", "0.1.0");
  report_status(&s->rep, "clear-route-cache", proxy_clear_route_cache());
#endif
  return R_REPLY;
}

#ifdef PW_UNKNOWN_IMPORT
static req_result c_unknown_import(stream_ctx *s) {
  report_status(&s->rep, "unknown-import", proxy_c_hostcalls_unknown_function());
  return R_REPLY;
}
#endif

static const case_def cases[] = {
    {.prefix = "/hostcalls/log", .on_request_headers = c_log},
    {.prefix = "/hostcalls/log_level", .on_request_headers = c_log_level},
    {.prefix = "/hostcalls/time", .on_request_headers = c_time},
    {.prefix = "/hostcalls/tick", .on_request_headers = c_tick},
    {.prefix = "/hostcalls/effective_context", .on_request_headers = c_effective_context},
    {.prefix = "/hostcalls/done", .on_request_headers = c_done},
    {.prefix = "/hostcalls/foreign", .on_request_headers = c_foreign},
    {.prefix = "/hostcalls/property", .on_request_headers = c_property},
    {.prefix = "/hostcalls/property_set", .on_request_headers = c_property_set},
    {.prefix = "/hostcalls/property_errors", .on_request_headers = c_property_errors},
    {.prefix = "/hostcalls/root/report", .on_request_headers = c_root_report},
    {.prefix = "/hostcalls/wasi", .on_request_headers = c_wasi},
    {.prefix = "/hostcalls/abi", .on_request_headers = c_abi},
#ifdef PW_UNKNOWN_IMPORT
    {.prefix = "/hostcalls/unknown_import", .on_request_headers = c_unknown_import},
#endif
};

int basic_cases(const case_def **out) {
  *out = cases;
  return (int)(sizeof cases / sizeof cases[0]);
}
