/* Small helpers shared by every part of c-hostcalls: growable strings, logging, pairs codec, a flat
 * JSON reader, host-memory helpers. */
#ifndef C_HOSTCALLS_UTIL_H
#define C_HOSTCALLS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "proxy_wasm_abi.h"

#define LOG_PREFIX "c-hostcalls: "

/* Growable byte string; always NUL-terminated after the first append. */
typedef struct {
  char *data;
  size_t len;
  size_t cap;
} sbuf;

void sb_append(sbuf *b, const char *p, size_t n);
void sb_puts(sbuf *b, const char *s);
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_free(sbuf *b);

char *xstrndup(const char *p, size_t n);
char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* proxy_log with the plugin prefix; returns the host status. */
pw_status plog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A guest address just past the end of linear memory: any access through it is out of bounds. */
uintptr_t bad_address(void);
#define BAD_PTR ((char *)bad_address())
#define BAD_PPTR ((char **)bad_address())
#define BAD_U32P ((uint32_t *)bad_address())
#define BAD_I32P ((int32_t *)bad_address())
#define BAD_U64P ((uint64_t *)bad_address())

/* Serialized pairs (proxy-wasm map encoding). */
void pairs_encode(sbuf *out, const char *const *kv, int npairs); /* kv = k0, v0, k1, v1, ... */
/* Calls fn for each pair; returns the number of pairs, or -1 if the buffer is malformed. */
int pairs_decode(const char *buf, size_t len,
                 void (*fn)(void *arg, const char *k, size_t kl, const char *v, size_t vl), void *arg);

/* Flat JSON object reader: finds a top-level key. Strings are returned without quotes and with
 * \" and \\ unescaped into out. Return 1 when found with the wanted type, else 0. */
int json_string(const char *json, size_t len, const char *key, char *out, size_t out_size);
int json_int(const char *json, size_t len, const char *key, long long *out);
int json_bool(const char *json, size_t len, const char *key, int *out);
/* 1 if the text (ignoring whitespace) is empty or starts with '{'. */
int json_is_object_or_empty(const char *json, size_t len);

/* Header-safe rendering of arbitrary bytes: printable ASCII as is, otherwise "hex:" + lowercase hex. */
char *render_value(const char *p, size_t n);
int is_printable(const char *p, size_t n);

/* Reads a header map value into a malloc'd NUL-terminated string (NULL if the host said no). */
char *get_map_value(int32_t map, const char *key, pw_status *status);

/* Builds a NUL-separated property path from a dotted path ("request.path" -> "request\0path"). */
char *property_path(const char *dotted, int32_t *out_len);

#endif
