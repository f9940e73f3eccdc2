/* Misbehaviour for safety tests: traps, endless loops, unbounded memory growth, and allocations
 * that are never freed — by request path, or at start/configure/tick time by configuration. */
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

static volatile uint64_t g_spin;
static void **g_kept; /* /hostcalls/alloc blocks, never freed */
static size_t g_nkept;

__attribute__((noinline)) static void spin_forever(void) {
  for (;;) g_spin++;
}

/* Grows linear memory until the host refuses; returns the number of pages added. */
static uint32_t grow_until_failure(void) {
  uint32_t grown = 0;
  for (uint32_t step = 1024; step; step /= 2)
    while (__builtin_wasm_memory_grow(0, step) != (size_t)-1) grown += step;
  return grown;
}

int misbehave(const char *mode, const char *where) {
  if (!mode || !*mode || strcmp(mode, "ok") == 0) return 1;
  if (strcmp(mode, "fail") == 0) {
    plog(PW_LOG_WARN, "failing %s", where);
    return 0;
  }
  if (strcmp(mode, "trap") == 0) {
    plog(PW_LOG_WARN, "trapping in %s", where);
    __builtin_trap();
  }
  if (strcmp(mode, "loop") == 0) {
    plog(PW_LOG_WARN, "looping forever in %s", where);
    spin_forever();
  }
  if (strcmp(mode, "oom") == 0) {
    plog(PW_LOG_WARN, "growing memory without bound in %s", where);
    uint32_t pages = grow_until_failure();
    plog(PW_LOG_WARN, "memory.grow refused after %u more pages; trapping", pages);
    __builtin_trap();
  }
  plog(PW_LOG_ERROR, "unknown misbehaviour \"%s\" in %s", mode, where);
  return 0;
}

static req_result c_trap(stream_ctx *s) {
  if (!*s->arg) misbehave("trap", "on_request_headers");
  return R_CONTINUE;
}

static int trap_in(stream_ctx *s, const char *where) {
  if (strcmp(s->arg, where) == 0) misbehave("trap", where);
  return PW_ACTION_CONTINUE;
}

static int t_request_body(stream_ctx *s, uint32_t size, int eos) {
  (void)size, (void)eos;
  return trap_in(s, "on_request_body");
}
static int t_response_headers(stream_ctx *s) { return trap_in(s, "on_response_headers"); }
static int t_response_body(stream_ctx *s, uint32_t size, int eos) {
  (void)size, (void)eos;
  return trap_in(s, "on_response_body");
}
static void t_on_log(stream_ctx *s) { trap_in(s, "on_log"); }

static req_result c_loop(stream_ctx *s) {
  if (!*s->arg) misbehave("loop", "on_request_headers");
  return R_CONTINUE;
}

static int l_response_headers(stream_ctx *s) {
  if (strcmp(s->arg, "on_response_headers") == 0) misbehave("loop", "on_response_headers");
  return PW_ACTION_CONTINUE;
}

/* /hostcalls/oom: grow until refused, then trap. /hostcalls/oom/report: grow until refused, reply. */
static req_result c_oom(stream_ctx *s) {
  if (strcmp(s->arg, "report") != 0) misbehave("oom", "on_request_headers");
  void *reserve = malloc(256 * 1024); /* room for the report once memory is full */
  uint32_t before = memory_pages();
  uint32_t grown = grow_until_failure();
  free(reserve);
  report_add(&s->rep, "pages-before", "%u", before);
  report_add(&s->rep, "grown-pages", "%u", grown);
  report_add(&s->rep, "memory-pages", "%u", memory_pages());
  return R_REPLY;
}

/* /hostcalls/alloc/<MiB>: allocates and writes <MiB> MiB that is never freed. */
static req_result c_alloc(stream_ctx *s) {
  size_t mib = (size_t)strtoul(s->arg, NULL, 10);
  size_t bytes = mib * 1024 * 1024;
  void *block = malloc(bytes ? bytes : 1);
  if (block) {
    memset(block, 0xa5, bytes);
    void **kept = realloc(g_kept, (g_nkept + 1) * sizeof(void *));
    if (kept) {
      g_kept = kept;
      g_kept[g_nkept++] = block;
    }
  }
  report_add(&s->rep, "alloc", "%s", block ? "ok" : "failed");
  report_add(&s->rep, "alloc-mib", "%zu", mib);
  report_add(&s->rep, "kept-blocks", "%zu", g_nkept);
  report_add(&s->rep, "memory-pages", "%u", memory_pages());
  return R_REPLY;
}

/* /hostcalls/malloc_fails: the exported malloc returns NULL while the host is asked for data. */
static req_result c_malloc_fails(stream_ctx *s) {
  char *p = NULL;
  int32_t n = 0;
  int32_t plen;
  char *path = property_path("plugin_name", &plen);
  g_malloc_returns_null = 1;
  pw_status pairs = proxy_get_header_map_pairs(PW_MAP_HTTP_REQUEST_HEADERS, &p, &n);
  pw_status value = proxy_get_header_map_value(PW_MAP_HTTP_REQUEST_HEADERS, ":path", 5, &p, &n);
  pw_status prop = proxy_get_property(path, plen, &p, &n);
  g_malloc_returns_null = 0;
  free(path);
  report_status(&s->rep, "get-pairs", pairs);
  report_status(&s->rep, "get-value", value);
  report_status(&s->rep, "get-property", prop);
  return R_REPLY;
}

static req_result c_memory(stream_ctx *s) {
  report_add(&s->rep, "memory-pages", "%u", memory_pages());
  return R_REPLY;
}

static const case_def cases[] = {
    {.prefix = "/hostcalls/trap",
     .on_request_headers = c_trap,
     .on_request_body = t_request_body,
     .on_response_headers = t_response_headers,
     .on_response_body = t_response_body,
     .on_log = t_on_log},
    {.prefix = "/hostcalls/loop", .on_request_headers = c_loop, .on_response_headers = l_response_headers},
    {.prefix = "/hostcalls/oom", .on_request_headers = c_oom},
    {.prefix = "/hostcalls/alloc", .on_request_headers = c_alloc},
    {.prefix = "/hostcalls/memory", .on_request_headers = c_memory},
    {.prefix = "/hostcalls/malloc_fails", .on_request_headers = c_malloc_fails},
};

int misbehave_cases(const case_def **out) {
  *out = cases;
  return (int)(sizeof cases / sizeof cases[0]);
}
