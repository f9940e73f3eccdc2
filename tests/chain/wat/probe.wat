;; probe: a proxy-wasm plugin whose behaviour in each callback is fixed at build time.
;; tests/chain/probe.py substitutes the knobs (at-signs) and compiles it with wasmtime.wat2wasm.
;; Callback ids: 1 request headers, 2 request body, 3 request trailers, 4 response headers,
;; 5 response body, 6 response trailers, 7 log, 8 http_call response, 9 tick.
(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add_header (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response"
    (func $local (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_close_stream" (func $close (param i32) (result i32)))
  (import "env" "proxy_http_call"
    (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_effective (param i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $tick_period (param i32) (result i32)))

  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (global $call_stream (mut i32) (i32.const 0))

  (data (i32.const 1024) "@NAME@")
  (data (i32.const 1100) "x-seen")
  (data (i32.const 1110) "x-seen-resp")
  (data (i32.const 1130) "upstream")
  (data (i32.const 1140) "@CALL_HEADERS@")
  (data (i32.const 1400) "@LOCAL_BODY@")
  (data (i32.const 1500) "@LOCAL_DETAILS@")
  (data (i32.const 1600) "x-trailer-added")
  (data (i32.const 1700) "@APPEND@")

  (func (export "proxy_abi_version_0_2_1"))

  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $size)) (i32.const 7))
                               (i32.const -8)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.eq (memory.grow (i32.add (i32.div_u (local.get $size) (i32.const 65536)) (i32.const 1)))
                        (i32.const -1))
              (then unreachable))))
    (local.get $p))

  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (if (i32.gt_s (i32.const @TICK_MS@) (i32.const 0))
      (then (drop (call $tick_period (i32.const @TICK_MS@)))))
    (i32.const @CONFIGURE_OK@))

  ;; misbehave in callback $cb if FAIL_AT says so: 1 trap, 2 endless loop, 3 grow memory without bound
  (func $maybe_fail (param $cb i32)
    (if (i32.ne (local.get $cb) (i32.const @FAIL_AT@)) (then (return)))
    (if (i32.eq (i32.const @FAIL_KIND@) (i32.const 1)) (then unreachable))
    (if (i32.eq (i32.const @FAIL_KIND@) (i32.const 2)) (then (loop $forever (br $forever))))
    (if (i32.eq (i32.const @FAIL_KIND@) (i32.const 3))
      (then (loop $grow
              (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
            unreachable)))

  (func $maybe_local (param $cb i32)
    (if (i32.eq (local.get $cb) (i32.const @LOCAL_AT@))
      (then (drop (call $local (i32.const @LOCAL_STATUS@) (i32.const 1500) (i32.const @LOCAL_DETAILS_LEN@)
                               (i32.const 1400) (i32.const @LOCAL_BODY_LEN@) (i32.const 0) (i32.const 0)
                               (i32.const -1))))))

  (func $maybe_close (param $cb i32)
    (if (i32.eq (local.get $cb) (i32.const @CLOSE_AT@))
      (then (drop (call $close (i32.const 0))))))

  (func $common (param $cb i32)
    (call $maybe_fail (local.get $cb))
    (call $maybe_local (local.get $cb))
    (call $maybe_close (local.get $cb)))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $add_header (i32.const 0) (i32.const 1100) (i32.const 6) (i32.const 1024) (i32.const @NAME_LEN@)))
    (call $common (i32.const 1))
    (if (i32.eq (i32.const @CALL_AT_RQH@) (i32.const 1))
      (then
        (global.set $call_stream (local.get $ctx))
        (drop (call $http_call (i32.const 1130) (i32.const 8) (i32.const 1140) (i32.const @CALL_HEADERS_LEN@)
                               (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                               (i32.const @CALL_TIMEOUT_MS@) (i32.const 1000)))
        (return (i32.const 1))))
    (if (i32.eq (i32.const @CONTINUE_IN_RQH@) (i32.const 1))
      (then (drop (call $continue (i32.const 0)))))
    (i32.const @RQH@))

  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (call $common (i32.const 2))
    (if (i32.and (local.get $eos) (i32.eq (i32.const @TRAILERS_AT_EOS@) (i32.const 1)))
      (then (drop (call $add_header (i32.const 1) (i32.const 1600) (i32.const 15)
                                    (i32.const 1024) (i32.const @NAME_LEN@)))))
    (if (i32.and (local.get $eos) (i32.gt_s (i32.const @APPEND_LEN@) (i32.const 0)))
      (then (drop (call $set_buffer (i32.const 0) (local.get $size) (i32.const 0)
                                    (i32.const 1700) (i32.const @APPEND_LEN@)))))
    (if (i32.eq (i32.const @RQB_UNTIL_EOS@) (i32.const 1))
      (then (return (i32.eqz (local.get $eos)))))
    (i32.const @RQB@))

  (func (export "proxy_on_request_trailers") (param $ctx i32) (param $n i32) (result i32)
    (call $common (i32.const 3))
    (i32.const @RQT@))

  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $add_header (i32.const 2) (i32.const 1110) (i32.const 11) (i32.const 1024) (i32.const @NAME_LEN@)))
    (call $common (i32.const 4))
    (i32.const @RSH@))

  (func (export "proxy_on_response_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (call $common (i32.const 5))
    (if (i32.eq (i32.const @RSB_UNTIL_EOS@) (i32.const 1))
      (then (return (i32.eqz (local.get $eos)))))
    (i32.const @RSB@))

  (func (export "proxy_on_response_trailers") (param $ctx i32) (param $n i32) (result i32)
    (call $common (i32.const 6))
    (i32.const @RST@))

  (func (export "proxy_on_log") (param $ctx i32)
    (call $maybe_fail (i32.const 7)))
  (func (export "proxy_on_done") (param $ctx i32) (result i32) (i32.const 1))
  (func (export "proxy_on_delete") (param $ctx i32))

  ;; CALL_THEN: 0 resume the request, 1 local reply, 2 trap, 3 resume twice-deferred (continue then nothing)
  (func (export "proxy_on_http_call_response") (param $root i32) (param $token i32) (param $nh i32)
        (param $bs i32) (param $nt i32)
    (drop (call $set_effective (global.get $call_stream)))
    (if (i32.eq (i32.const @CALL_THEN@) (i32.const 2)) (then unreachable))
    (if (i32.eq (i32.const @CALL_THEN@) (i32.const 1))
      (then (drop (call $local (i32.const @LOCAL_STATUS@) (i32.const 1500) (i32.const @LOCAL_DETAILS_LEN@)
                               (i32.const 1400) (i32.const @LOCAL_BODY_LEN@) (i32.const 0) (i32.const 0)
                               (i32.const -1)))
            (return)))
    (drop (call $continue (i32.const 0))))

  (func (export "proxy_on_tick") (param $root i32)
    (call $maybe_fail (i32.const 9)))
)
