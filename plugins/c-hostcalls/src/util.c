#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_append(sbuf *b, const char *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) __builtin_trap();
    b->data = d;
    b->cap = cap;
  }
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
}

void sb_puts(sbuf *b, const char *s) { sb_append(b, s, strlen(s)); }

static void sb_vprintf(sbuf *b, const char *fmt, va_list ap) {
  char small[256];
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(small, sizeof small, fmt, copy);
  va_end(copy);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    sb_append(b, small, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) __builtin_trap();
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  sb_append(b, big, (size_t)n);
  free(big);
}

void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(b, fmt, ap);
  va_end(ap);
}

void sb_free(sbuf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

char *xstrndup(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) __builtin_trap();
  if (n) memcpy(s, p, n);
  s[n] = 0;
  return s;
}

char *xprintf(const char *fmt, ...) {
  sbuf b = {0};
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&b, fmt, ap);
  va_end(ap);
  if (!b.data) return xstrndup("", 0);
  return b.data;
}

pw_status plog(int level, const char *fmt, ...) {
  sbuf b = {0};
  sb_puts(&b, LOG_PREFIX);
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(&b, fmt, ap);
  va_end(ap);
  pw_status st = proxy_log(level, b.data, (int32_t)b.len);
  sb_free(&b);
  return st;
}

uintptr_t bad_address(void) {
  uintptr_t end = (uintptr_t)__builtin_wasm_memory_size(0) * 65536u;
  if (end == 0) return 0xfffffff0u; /* 4 GiB of memory: nothing is out of bounds but the top */
  return end + 4096u;
}

static void put_u32(sbuf *b, uint32_t v) {
  char le[4] = {(char)(v & 0xff), (char)((v >> 8) & 0xff), (char)((v >> 16) & 0xff), (char)(v >> 24)};
  sb_append(b, le, 4);
}

static uint32_t get_u32(const char *p) {
  const unsigned char *u = (const unsigned char *)p;
  return (uint32_t)u[0] | ((uint32_t)u[1] << 8) | ((uint32_t)u[2] << 16) | ((uint32_t)u[3] << 24);
}

void pairs_encode(sbuf *out, const char *const *kv, int npairs) {
  put_u32(out, (uint32_t)npairs);
  for (int i = 0; i < npairs; i++) {
    put_u32(out, (uint32_t)strlen(kv[2 * i]));
    put_u32(out, (uint32_t)strlen(kv[2 * i + 1]));
  }
  for (int i = 0; i < npairs; i++) {
    sb_append(out, kv[2 * i], strlen(kv[2 * i]) + 1);
    sb_append(out, kv[2 * i + 1], strlen(kv[2 * i + 1]) + 1);
  }
}

int pairs_decode(const char *buf, size_t len,
                 void (*fn)(void *arg, const char *k, size_t kl, const char *v, size_t vl), void *arg) {
  if (len < 4) return 0;
  uint32_t n = get_u32(buf);
  if (n > (len - 4) / 8) return -1;
  size_t off = 4 + (size_t)n * 8;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t kl = get_u32(buf + 4 + 8 * i), vl = get_u32(buf + 8 + 8 * i);
    if (off + kl + 1 + vl + 1 > len) return -1;
    const char *k = buf + off;
    const char *v = k + kl + 1;
    if (fn) fn(arg, k, kl, v, vl);
    off += (size_t)kl + 1 + vl + 1;
  }
  return (int)n;
}

/* --- flat JSON ----------------------------------------------------------------------------------- */

static size_t skip_ws(const char *j, size_t i, size_t len) {
  while (i < len && (j[i] == ' ' || j[i] == '\t' || j[i] == '\n' || j[i] == '\r')) i++;
  return i;
}

/* Skips one JSON value starting at i; returns the index after it. */
static size_t skip_value(const char *j, size_t i, size_t len) {
  if (i >= len) return len;
  if (j[i] == '"') {
    for (i++; i < len; i++) {
      if (j[i] == '\\') i++;
      else if (j[i] == '"') return i + 1;
    }
    return len;
  }
  if (j[i] == '{' || j[i] == '[') {
    int depth = 0;
    for (; i < len; i++) {
      if (j[i] == '"') {
        i = skip_value(j, i, len) - 1;
      } else if (j[i] == '{' || j[i] == '[') {
        depth++;
      } else if (j[i] == '}' || j[i] == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return len;
  }
  while (i < len && j[i] != ',' && j[i] != '}' && j[i] != ']' && j[i] != ' ' && j[i] != '\n' && j[i] != '\t' &&
         j[i] != '\r')
    i++;
  return i;
}

/* Finds the value of a top-level key; sets vstart and vend. */
static int json_find(const char *j, size_t len, const char *key, size_t *vstart, size_t *vend) {
  size_t i = skip_ws(j, 0, len);
  if (i >= len || j[i] != '{') return 0;
  i++;
  size_t klen = strlen(key);
  for (;;) {
    i = skip_ws(j, i, len);
    if (i >= len || j[i] == '}') return 0;
    if (j[i] != '"') return 0;
    size_t kstart = i + 1;
    size_t kend = skip_value(j, i, len) - 1;
    i = skip_ws(j, kend + 1, len);
    if (i >= len || j[i] != ':') return 0;
    i = skip_ws(j, i + 1, len);
    size_t vs = i;
    i = skip_value(j, i, len);
    if (kend - kstart == klen && memcmp(j + kstart, key, klen) == 0) {
      *vstart = vs;
      *vend = i;
      return 1;
    }
    i = skip_ws(j, i, len);
    if (i < len && j[i] == ',') i++;
  }
}

int json_string(const char *json, size_t len, const char *key, char *out, size_t out_size) {
  size_t s, e;
  if (!json || !json_find(json, len, key, &s, &e) || json[s] != '"' || e < s + 2) return 0;
  size_t o = 0;
  for (size_t i = s + 1; i < e - 1 && o + 1 < out_size; i++) {
    if (json[i] == '\\' && i + 1 < e - 1) i++;
    out[o++] = json[i];
  }
  out[o] = 0;
  return 1;
}

int json_int(const char *json, size_t len, const char *key, long long *out) {
  size_t s, e;
  if (!json || !json_find(json, len, key, &s, &e)) return 0;
  if (!(json[s] == '-' || (json[s] >= '0' && json[s] <= '9'))) return 0;
  char tmp[32];
  size_t n = e - s < sizeof tmp - 1 ? e - s : sizeof tmp - 1;
  memcpy(tmp, json + s, n);
  tmp[n] = 0;
  *out = strtoll(tmp, NULL, 10);
  return 1;
}

int json_bool(const char *json, size_t len, const char *key, int *out) {
  size_t s, e;
  if (!json || !json_find(json, len, key, &s, &e)) return 0;
  if (e - s == 4 && memcmp(json + s, "true", 4) == 0) {
    *out = 1;
    return 1;
  }
  if (e - s == 5 && memcmp(json + s, "false", 5) == 0) {
    *out = 0;
    return 1;
  }
  return 0;
}

int json_is_object_or_empty(const char *json, size_t len) {
  size_t i = skip_ws(json, 0, len);
  return i >= len || json[i] == '{';
}

/* --- values ---------------------------------------------------------------------------------------- */

int is_printable(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e) return 0;
  return 1;
}

char *render_value(const char *p, size_t n) {
  if (is_printable(p, n)) return xstrndup(p, n);
  static const char hex[] = "0123456789abcdef";
  char *s = malloc(4 + 2 * n + 1);
  if (!s) __builtin_trap();
  memcpy(s, "hex:", 4);
  for (size_t i = 0; i < n; i++) {
    s[4 + 2 * i] = hex[(unsigned char)p[i] >> 4];
    s[5 + 2 * i] = hex[(unsigned char)p[i] & 15];
  }
  s[4 + 2 * n] = 0;
  return s;
}

char *get_map_value(int32_t map, const char *key, pw_status *status) {
  char *p = NULL;
  int32_t n = 0;
  pw_status st = proxy_get_header_map_value(map, key, (int32_t)strlen(key), &p, &n);
  if (status) *status = st;
  if (st != PW_OK) return NULL;
  char *s = xstrndup(p, (size_t)n);
  free(p);
  return s;
}

char *property_path(const char *dotted, int32_t *out_len) {
  size_t n = strlen(dotted);
  char *p = xstrndup(dotted, n);
  for (size_t i = 0; i < n; i++)
    if (p[i] == '.') p[i] = 0;
  *out_len = (int32_t)n;
  return p;
}
