"""``wasmplugin demo``: the blog's mesh running for real on 127.0.0.1.

The demo starts its own small services (the ``api-gateway`` echo app, a JWKS key server, a policy
service, a module server), copies ``examples/demo`` into a run directory with their ports, runs
``wasmplugin serve`` on it as a child process, sends a scripted set of requests through the
sidecar and prints what happened. See ``docs/demo.md``.

Modules, one job each: :mod:`.httpserver` / :mod:`.httpclient` (HTTP/1.1 on asyncio),
:mod:`.tokens` (keys, JWKS, JWTs), :mod:`.policy` (the rule table), :mod:`.services` (the local
services), :mod:`.mesh` (the run directory), :mod:`.sidecar` (the ``serve`` child),
:mod:`.scenario` (the scripted cases, judged without I/O), :mod:`.report` (the table),
:mod:`.runner` (putting it together).
"""
