"""A burst of new connections while the sandbox's accept loop lags (a busy machine) is queued, never refused.

A Stripe run opens one connection per worker thread at once (80 at 200 req/s). With socketserver's listen backlog of
5 the kernel dropped or reset the connections beyond it, the SDK retried them, and the run's api_calls counted
requests that real Stripe never causes (the customers end-to-end test saw 191 and 194 for 188 creates).
"""

import socket
import threading

from zensync_pipelines.sandbox.stripe import StripeSandbox

BURST = 64


def test_a_burst_of_connections_waits_for_a_stalled_accept_loop():
    with StripeSandbox(rate_limit=None) as sandbox:
        server = sandbox._server
        server.shutdown()  # the accept loop stops; the socket keeps listening, as when its thread gets no CPU
        connections, refused = [], 0
        for _ in range(BURST):
            try:
                connection = socket.create_connection(("127.0.0.1", sandbox.port), timeout=0.5)
            except OSError:  # the handshake was dropped (a full queue): the client would retry, or time out
                refused += 1
                continue
            connection.sendall(b"GET /v1/customers HTTP/1.1\r\nHost: sandbox\r\n"
                               b"Authorization: Bearer sk_test_burst\r\n\r\n")
            connections.append(connection)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        statuses = []
        for connection in connections:
            with connection:
                connection.settimeout(10)
                statuses.append(connection.recv(64).split(b" ")[1])
        assert (refused, statuses) == (0, [b"200"] * BURST)
