/* c-hostcalls: contexts, the per-stream report, and the table of request-path cases. */
#ifndef C_HOSTCALLS_PLUGIN_H
#define C_HOSTCALLS_PLUGIN_H

#include <stdint.h>

#include "proxy_wasm_abi.h"
#include "util.h"

/* --- report: what each host call returned, sent back as x-hc-<key> headers and key=value lines --- */
typedef struct {
  int n, cap;
  char **keys;
  char **vals;
} report;

void report_add(report *r, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void report_status(report *r, const char *key, pw_status st);
void report_clear(report *r);

/* --- contexts ------------------------------------------------------------------------------------ */
typedef struct root_ctx {
  uint32_t id;
  struct root_ctx *next;
  char *config; /* plugin configuration text (NUL-terminated) */
  size_t config_len;
  int log_callbacks;     /* lifecycle logs at info instead of debug */
  int defer_done;        /* on_done returns false, proxy_done() follows from on_tick */
  int dequeue_on_ready;  /* on_queue_ready drains the queue and logs each item */
  char on_tick[16];      /* "" | "trap" | "loop" */
  uint32_t user_tick_ms; /* tick period asked for by configuration or /hostcalls/tick/start */
  int wait_ticking;      /* a 10 ms timer runs for paused streams (wait_for_tick) */
  uint64_t ticks;
  int done_pending;
  report rep; /* host call results from on_vm_start / on_configure, served by /hostcalls/root/report */
} root_ctx;

struct case_def;

typedef struct stream_ctx {
  uint32_t id;
  uint32_t root_id;
  struct stream_ctx *next;
  const struct case_def *kase;
  char *path;      /* :path without the query string */
  const char *arg; /* the part of path after the case prefix and '/', "" if none */
  report rep;
  sbuf body;          /* appended to the report reply after a blank line */
  int headers_eos;    /* on_request_headers saw end_of_stream (no request body) */
  int replied;        /* a local reply was sent */
  int body_calls;     /* request body callbacks seen */
  int wait_tick;      /* paused until the next on_tick resumes it: WAIT_REQUEST or WAIT_RESPONSE */
  uint32_t tokens[2]; /* outstanding callouts */
  int ntokens;
  int done_calls;
} stream_ctx;

extern int g_lifecycle_level;   /* PW_LOG_DEBUG, or PW_LOG_INFO with log_callbacks */
extern int g_malloc_returns_null; /* set only inside /hostcalls/malloc_fails */
extern uint32_t g_stream_counter;     /* metric id of c_hostcalls_streams_total, 0 if undefined */

root_ctx *find_root(uint32_t id);
stream_ctx *find_stream(uint32_t id);
stream_ctx *first_stream(void);

/* --- cases ---------------------------------------------------------------------------------------- */
typedef enum {
  R_REPLY,    /* send the report as a 200 local reply */
  R_CONTINUE, /* let the request go on; the report is added to the response headers */
  R_PAUSE,    /* the case paused the request and resumes it later */
  R_REPLIED,  /* the case sent its own local reply */
} req_result;

typedef struct case_def {
  const char *prefix; /* "/hostcalls/log": matches the path itself or prefix + "/" + arg */
  req_result (*on_request_headers)(stream_ctx *s);
  int (*on_request_body)(stream_ctx *s, uint32_t size, int eos);         /* returns an action */
  int (*on_request_trailers)(stream_ctx *s, uint32_t n);                 /* returns an action */
  int (*on_response_headers)(stream_ctx *s);                             /* returns an action */
  int (*on_response_body)(stream_ctx *s, uint32_t size, int eos);        /* returns an action */
  void (*on_http_call_response)(stream_ctx *s, uint32_t token, uint32_t nh, uint32_t body, uint32_t nt);
  void (*on_grpc_close)(stream_ctx *s, uint32_t token, uint32_t status);
  void (*on_log)(stream_ctx *s);
} case_def;

/* Each cases_*.c file exposes its table through one of these. */
int basic_cases(const case_def **out);
int http_cases(const case_def **out);
int callout_cases(const case_def **out);
int state_cases(const case_def **out);
int misbehave_cases(const case_def **out);

enum { WAIT_NONE = 0, WAIT_REQUEST = 1, WAIT_RESPONSE = 2 };

/* Sends s->rep as a local reply with the given status (headers x-hc-case + x-hc-<key>). */
void reply_report(stream_ctx *s, uint32_t status);
/* Adds s->rep to the current response headers (used when the request went upstream). */
void report_to_response_headers(stream_ctx *s);
/* Resumes a paused request (continue_stream or, on 0.1.0, continue_request). */
pw_status resume_request(void);
/* Resumes a paused response (continue_stream or, on 0.1.0, continue_response). */
pw_status resume_response(void);
/* Pauses the stream until the next tick (which = WAIT_REQUEST / WAIT_RESPONSE); starts a 10 ms timer. */
void wait_for_tick(stream_ctx *s, int which);
/* Allocation helpers for the memory cases. */
uint32_t memory_pages(void);

/* Misbehaviour shared by paths and configuration: "trap", "loop", "oom", "fail". Returns 0 for
 * "fail", 1 for "" / "ok"; the others do not return. */
int misbehave(const char *mode, const char *where);

#endif
