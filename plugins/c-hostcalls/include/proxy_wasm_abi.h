/*
 * proxy_wasm_abi.h — the proxy-wasm host interface as seen from a C plugin (written for wasmplugin).
 *
 * Select the ABI with PW_ABI before including: 10 = 0.1.0, 20 = 0.2.0, 21 = 0.2.1 (default).
 * Host functions that a version does not have are not declared for it, so a plugin built for
 * 0.1.0 cannot import proxy_continue_stream by mistake (Envoy links imports by version).
 *
 * Every host function returns a pw_status (proxy_status_t). Pointers are guest addresses; "ret_"
 * parameters are out-pointers the host writes (buffers it returns are allocated with our malloc).
 */
#ifndef PROXY_WASM_ABI_H
#define PROXY_WASM_ABI_H

#include <stdint.h>

#ifndef PW_ABI
#define PW_ABI 21
#endif

#define PW_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define PW_EXPORT(name) __attribute__((export_name(#name)))

typedef int32_t pw_status;

enum {
  PW_OK = 0,
  PW_NOT_FOUND = 1,
  PW_BAD_ARGUMENT = 2,
  PW_SERIALIZATION_FAILURE = 3,
  PW_PARSE_FAILURE = 4,
  PW_BAD_EXPRESSION = 5,
  PW_INVALID_MEMORY_ACCESS = 6,
  PW_EMPTY = 7,
  PW_CAS_MISMATCH = 8,
  PW_RESULT_MISMATCH = 9,
  PW_INTERNAL_FAILURE = 10,
  PW_BROKEN_CONNECTION = 11,
  PW_UNIMPLEMENTED = 12,
};

enum { PW_LOG_TRACE = 0, PW_LOG_DEBUG, PW_LOG_INFO, PW_LOG_WARN, PW_LOG_ERROR, PW_LOG_CRITICAL };
enum { PW_ACTION_CONTINUE = 0, PW_ACTION_PAUSE = 1 };

enum {
  PW_BUFFER_HTTP_REQUEST_BODY = 0,
  PW_BUFFER_HTTP_RESPONSE_BODY = 1,
  PW_BUFFER_DOWNSTREAM_DATA = 2,
  PW_BUFFER_UPSTREAM_DATA = 3,
  PW_BUFFER_HTTP_CALL_RESPONSE_BODY = 4,
  PW_BUFFER_GRPC_RECEIVE = 5,
  PW_BUFFER_VM_CONFIGURATION = 6,
  PW_BUFFER_PLUGIN_CONFIGURATION = 7,
  PW_BUFFER_FOREIGN_FUNCTION_ARGUMENTS = 8,
};

enum {
  PW_MAP_HTTP_REQUEST_HEADERS = 0,
  PW_MAP_HTTP_REQUEST_TRAILERS = 1,
  PW_MAP_HTTP_RESPONSE_HEADERS = 2,
  PW_MAP_HTTP_RESPONSE_TRAILERS = 3,
  PW_MAP_GRPC_INITIAL_METADATA = 4,
  PW_MAP_GRPC_TRAILING_METADATA = 5,
  PW_MAP_HTTP_CALL_RESPONSE_HEADERS = 6,
  PW_MAP_HTTP_CALL_RESPONSE_TRAILERS = 7,
};

enum { PW_STREAM_REQUEST = 0, PW_STREAM_RESPONSE = 1, PW_STREAM_DOWNSTREAM = 2, PW_STREAM_UPSTREAM = 3 };
enum { PW_METRIC_COUNTER = 0, PW_METRIC_GAUGE = 1, PW_METRIC_HISTOGRAM = 2 };

/* --- logging, time, timers, contexts ---------------------------------------------------------- */
PW_IMPORT(proxy_log) pw_status proxy_log(int32_t level, const char *msg, int32_t size);
#if PW_ABI >= 21
PW_IMPORT(proxy_get_log_level) pw_status proxy_get_log_level(int32_t *ret_level);
#endif
PW_IMPORT(proxy_get_current_time_nanoseconds) pw_status proxy_get_current_time_nanoseconds(uint64_t *ret_ns);
PW_IMPORT(proxy_set_tick_period_milliseconds) pw_status proxy_set_tick_period_milliseconds(uint32_t period_ms);
PW_IMPORT(proxy_set_effective_context) pw_status proxy_set_effective_context(uint32_t context_id);
PW_IMPORT(proxy_done) pw_status proxy_done(void);
PW_IMPORT(proxy_call_foreign_function)
pw_status proxy_call_foreign_function(const char *name, int32_t name_size, const char *args, int32_t args_size,
                                      char **ret_ptr, int32_t *ret_size);

/* --- configuration (0.1.0) and buffers ---------------------------------------------------------- */
#if PW_ABI == 10
PW_IMPORT(proxy_get_configuration) pw_status proxy_get_configuration(char **ret_ptr, int32_t *ret_size);
#endif
PW_IMPORT(proxy_get_buffer_bytes)
pw_status proxy_get_buffer_bytes(int32_t type, uint32_t start, uint32_t max_size, char **ret_ptr, int32_t *ret_size);
PW_IMPORT(proxy_set_buffer_bytes)
pw_status proxy_set_buffer_bytes(int32_t type, uint32_t start, uint32_t size, const char *data, int32_t data_size);
PW_IMPORT(proxy_get_buffer_status)
pw_status proxy_get_buffer_status(int32_t type, int32_t *ret_size, uint32_t *ret_flags);

/* --- header / trailer / metadata maps ----------------------------------------------------------- */
PW_IMPORT(proxy_get_header_map_pairs) pw_status proxy_get_header_map_pairs(int32_t map, char **ret_ptr, int32_t *ret_size);
PW_IMPORT(proxy_set_header_map_pairs) pw_status proxy_set_header_map_pairs(int32_t map, const char *ptr, int32_t size);
PW_IMPORT(proxy_get_header_map_value)
pw_status proxy_get_header_map_value(int32_t map, const char *key, int32_t key_size, char **ret_ptr, int32_t *ret_size);
PW_IMPORT(proxy_add_header_map_value)
pw_status proxy_add_header_map_value(int32_t map, const char *key, int32_t key_size, const char *val, int32_t val_size);
PW_IMPORT(proxy_replace_header_map_value)
pw_status proxy_replace_header_map_value(int32_t map, const char *key, int32_t key_size, const char *val,
                                         int32_t val_size);
PW_IMPORT(proxy_remove_header_map_value)
pw_status proxy_remove_header_map_value(int32_t map, const char *key, int32_t key_size);
PW_IMPORT(proxy_get_header_map_size) pw_status proxy_get_header_map_size(int32_t map, int32_t *ret_size);

/* --- properties ----------------------------------------------------------------------------------- */
PW_IMPORT(proxy_get_property)
pw_status proxy_get_property(const char *path, int32_t path_size, char **ret_ptr, int32_t *ret_size);
PW_IMPORT(proxy_set_property)
pw_status proxy_set_property(const char *path, int32_t path_size, const char *val, int32_t val_size);

/* --- stream control and local replies ------------------------------------------------------------- */
#if PW_ABI >= 20
PW_IMPORT(proxy_continue_stream) pw_status proxy_continue_stream(int32_t stream_type);
PW_IMPORT(proxy_close_stream) pw_status proxy_close_stream(int32_t stream_type);
#else
PW_IMPORT(proxy_continue_request) pw_status proxy_continue_request(void);
PW_IMPORT(proxy_continue_response) pw_status proxy_continue_response(void);
PW_IMPORT(proxy_clear_route_cache) pw_status proxy_clear_route_cache(void);
#endif
PW_IMPORT(proxy_send_local_response)
pw_status proxy_send_local_response(uint32_t status, const char *details, int32_t details_size, const char *body,
                                    int32_t body_size, const char *headers, int32_t headers_size, int32_t grpc_status);
PW_IMPORT(proxy_get_status) pw_status proxy_get_status(uint32_t *ret_code, char **ret_msg, int32_t *ret_msg_size);

/* --- callouts ------------------------------------------------------------------------------------- */
PW_IMPORT(proxy_http_call)
pw_status proxy_http_call(const char *upstream, int32_t upstream_size, const char *headers, int32_t headers_size,
                          const char *body, int32_t body_size, const char *trailers, int32_t trailers_size,
                          uint32_t timeout_ms, uint32_t *ret_token);
PW_IMPORT(proxy_grpc_call)
pw_status proxy_grpc_call(const char *service, int32_t service_size, const char *service_name, int32_t service_name_size,
                          const char *method, int32_t method_size, const char *metadata, int32_t metadata_size,
                          const char *message, int32_t message_size, uint32_t timeout_ms, uint32_t *ret_token);
PW_IMPORT(proxy_grpc_stream)
pw_status proxy_grpc_stream(const char *service, int32_t service_size, const char *service_name,
                            int32_t service_name_size, const char *method, int32_t method_size, const char *metadata,
                            int32_t metadata_size, uint32_t *ret_token);
PW_IMPORT(proxy_grpc_send)
pw_status proxy_grpc_send(uint32_t token, const char *message, int32_t message_size, int32_t end_stream);
PW_IMPORT(proxy_grpc_cancel) pw_status proxy_grpc_cancel(uint32_t token);
PW_IMPORT(proxy_grpc_close) pw_status proxy_grpc_close(uint32_t token);

/* --- shared data and queues ----------------------------------------------------------------------- */
PW_IMPORT(proxy_get_shared_data)
pw_status proxy_get_shared_data(const char *key, int32_t key_size, char **ret_val, int32_t *ret_size, uint32_t *ret_cas);
PW_IMPORT(proxy_set_shared_data)
pw_status proxy_set_shared_data(const char *key, int32_t key_size, const char *val, int32_t val_size, uint32_t cas);
PW_IMPORT(proxy_register_shared_queue)
pw_status proxy_register_shared_queue(const char *name, int32_t name_size, uint32_t *ret_id);
PW_IMPORT(proxy_resolve_shared_queue)
pw_status proxy_resolve_shared_queue(const char *vm_id, int32_t vm_id_size, const char *name, int32_t name_size,
                                     uint32_t *ret_id);
PW_IMPORT(proxy_enqueue_shared_queue) pw_status proxy_enqueue_shared_queue(uint32_t id, const char *val, int32_t size);
PW_IMPORT(proxy_dequeue_shared_queue) pw_status proxy_dequeue_shared_queue(uint32_t id, char **ret_val, int32_t *ret_size);

/* --- metrics -------------------------------------------------------------------------------------- */
PW_IMPORT(proxy_define_metric)
pw_status proxy_define_metric(int32_t type, const char *name, int32_t name_size, uint32_t *ret_id);
PW_IMPORT(proxy_increment_metric) pw_status proxy_increment_metric(uint32_t id, int64_t delta);
PW_IMPORT(proxy_record_metric) pw_status proxy_record_metric(uint32_t id, uint64_t value);
PW_IMPORT(proxy_get_metric) pw_status proxy_get_metric(uint32_t id, uint64_t *ret_value);

#endif /* PROXY_WASM_ABI_H */
