"""A TLS-speaking SMTP server for Mailroom's tests (tests/api/smtp_tls.rs),
built on aiosmtpd, so that Mailroom's TLS is checked against a server that
is not our own.

    python3 tls_smtp_server.py starttls|tls CERT_PEM KEY_PEM

The listening socket is standard input: the test binds it and hands it
over, so the test chooses the port and nobody can take it meanwhile.
`starttls` offers STARTTLS and refuses mail before it; `tls` speaks TLS from
the first byte. Standard output carries one JSON object a line: first
{"event": "ready"}, then {"event": "mail", ...} for each message accepted,
with its envelope, its DATA in base64 and the TLS version it came over.
The server exits when its parent (the test) is gone.
"""

import asyncio
import base64
import json
import os
import socket
import ssl
import sys

from aiosmtpd.smtp import SMTP


def emit(event):
    print(json.dumps(event), flush=True)


class Recorder:
    async def handle_DATA(self, server, session, envelope):
        transport = server.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport else None
        emit(
            {
                "event": "mail",
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "data": base64.b64encode(
                    envelope.original_content or envelope.content
                ).decode("ascii"),
                "tls_version": ssl_object.version() if ssl_object else None,
            }
        )
        return "250 2.0.0 OK"


async def exit_with_parent(parent):
    while os.getppid() == parent:
        await asyncio.sleep(0.5)
    os._exit(0)


async def main(mode, cert, key):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.socket(fileno=sys.stdin.fileno())
    loop = asyncio.get_running_loop()
    if mode == "starttls":
        server = await loop.create_server(
            lambda: SMTP(
                Recorder(),
                hostname="mailroom-tls-test",
                tls_context=context,
                require_starttls=True,
            ),
            sock=listener,
        )
    elif mode == "tls":
        server = await loop.create_server(
            lambda: SMTP(Recorder(), hostname="mailroom-tls-test"),
            sock=listener,
            ssl=context,
        )
    else:
        sys.exit(f"unknown mode {mode!r}: starttls or tls")
    watchdog = asyncio.create_task(exit_with_parent(os.getppid()))
    emit({"event": "ready"})
    async with server:
        await server.serve_forever()
    watchdog.cancel()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
