"""A client killed mid-request leaves half a body: the sandbox, like a real API, must not act on it."""

import socket
import time

import stripe


def test_a_request_cut_off_mid_body_creates_nothing(stripe_sandbox):
    body = b"email=ada%40example.com&name=Ada&metadata[zenskar_id]=1"
    head = (f"POST /v1/customers HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk_test_x\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", stripe_sandbox.port)) as sock:
        sock.sendall(head + body[:30])  # the metadata never arrives: the process died here
    time.sleep(0.3)
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": stripe_sandbox.url})
    assert client.v1.customers.list().data == []
