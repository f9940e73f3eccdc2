"""``ActiveFilter.stream_property`` answers the common attributes through a table of getters
(``chain.properties.GETTERS``); each must give exactly what the general resolver gives, at every
point of a stream's life (no headers yet, request only, response in, completed)."""

from __future__ import annotations

from chain_env import Env, request, response
from probe import probe_wasm

from wasmplugin.chain.api import Direction, StreamInfo
from wasmplugin.chain.properties import GETTERS, resolve_property
from wasmplugin.chain.stream import HttpStream


def _same_answers(s: HttpStream) -> int:
    af = s._filters[0]
    for path, get in GETTERS.items():
        expected = resolve_property(s, path)
        assert get(s) == expected, path
        assert type(get(s)) is type(expected), path
        assert af.stream_property(path) == expected, path
    return len(GETTERS)


def test_every_getter_matches_the_resolver(env: Env) -> None:
    chain = env.chain(("a", probe_wasm("a")))
    info = StreamInfo(
        direction=Direction.OUTBOUND, port=8080, source_address="::1", source_port=4000,
        connection_id=7, upstream_address="10.0.0.2", upstream_port=9000, cluster_name="c",
        route_name="default", extra={"mtls": True, "requested_server_name": "sni"},
    )
    for stream_info in (info, StreamInfo()):
        s = chain.new_stream(stream_info)
        assert isinstance(s, HttpStream)
        assert _same_answers(s) > 30
        s.request_headers(
            request(b"/a?b=1", method=b"POST", user_agent=b"ua", referer=b"r", x_request_id=b"id",
                    content_length=b"4"),
            end_stream=False,
        )
        s.request_data(b"body", end_stream=True)
        _same_answers(s)
        assert s._filters[0].stream_property(("request", "method")) == b"POST"
        s.response_headers(response(201, grpc_status=b"3"), end_stream=False)
        s.response_data(b"ok", end_stream=True)
        _same_answers(s)
        assert s._filters[0].stream_property(("response", "code")) == 201
        s.events()
        # after completion the filters are gone: ask the resolver's own answers of a finished stream
        s.complete()
        assert GETTERS[("request", "duration")](s) == resolve_property(s, ("request", "duration"))
        assert GETTERS[("request", "duration")](s) is not None
