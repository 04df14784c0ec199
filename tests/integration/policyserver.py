"""
policyserver.py - a Postfix-protocol policy server for the tests
(SMTPD_POLICY_README): name=value lines and an empty line in, one
"action=..." and an empty line out, many requests per connection.

PolicyServer(decide, path=None)   listens on the unix socket path, or on
                                  127.0.0.1 (inet) when path is None;
                                  spec is "unix:PATH" / "inet:127.0.0.1:PORT".
decide(request_dict) returns what to answer:
  a str            sent as "action=STR\\n\\n"
  Raw(bytes)       sent as is
  Split(parts)     each part sent on its own, a little apart
  HANG             no answer; the connection stays open until smtpd closes it
  CLOSE            the connection is closed without an answer
Every request is kept (requests), connections are counted (connections);
close_all() closes every open connection from the server's side.
"""

import os
import socket
import socketserver
import threading
import time


class Raw:
    def __init__(self, data):
        self.data = data


class Split:
    def __init__(self, parts, gap=0.05):
        self.parts = parts
        self.gap = gap


HANG = object()
CLOSE = object()


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        srv = self.server.policy
        sock = self.request
        with srv.lock:
            srv.connections += 1
            srv.open.add(sock)
        buf = b''
        try:
            while not srv.stopping.is_set():
                while b'\n\n' not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                raw, buf = buf.split(b'\n\n', 1)
                req = {}
                for line in raw.decode('utf-8', 'replace').split('\n'):
                    k, _, v = line.partition('=')
                    req.setdefault(k, v)
                req['_raw'] = raw
                with srv.lock:
                    srv.requests.append(req)
                ans = srv.decide(req)
                if ans is CLOSE:
                    return
                if ans is HANG:
                    sock.settimeout(0.2)
                    while not srv.stopping.is_set():
                        try:
                            if not sock.recv(65536):
                                return
                        except socket.timeout:
                            pass
                    return
                if isinstance(ans, Split):
                    for part in ans.parts:
                        sock.sendall(part)
                        time.sleep(ans.gap)
                elif isinstance(ans, Raw):
                    sock.sendall(ans.data)
                else:
                    sock.sendall(b'action=' + ans.encode('utf-8') + b'\n\n')
        except OSError:
            return
        finally:
            with srv.lock:
                srv.open.discard(sock)


class _Unix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    request_queue_size = 128


class _Inet(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class PolicyServer:
    def __init__(self, decide, path=None, backlog=None, accept_after=0.0):
        """backlog: the listen queue (default 128); accept_after: seconds
        before the first connection is accepted (they queue meanwhile)."""
        self.decide = decide
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.requests = []
        self.connections = 0
        self.open = set()
        if path is not None:
            if os.path.exists(path):
                os.unlink(path)
            self.srv = _Unix(path, _Handler, bind_and_activate=False)
            self.spec = 'unix:' + path
        else:
            self.srv = _Inet(('127.0.0.1', 0), _Handler, bind_and_activate=False)
        if backlog is not None:
            self.srv.request_queue_size = backlog
        self.srv.server_bind()
        self.srv.server_activate()
        if path is None:
            self.spec = 'inet:127.0.0.1:%d' % self.srv.server_address[1]
        self.srv.policy = self

        self.serving = threading.Event()

        def serve():
            if accept_after and self.stopping.wait(accept_after):
                return
            self.serving.set()
            self.srv.serve_forever(poll_interval=0.05)
        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()

    def counts(self):
        with self.lock:
            return len(self.requests), self.connections

    def requests_for(self, rcpt=None, sender=None, state=None):
        with self.lock:
            reqs = list(self.requests)
        return [r for r in reqs
                if (rcpt is None or r.get('recipient') == rcpt)
                and (sender is None or r.get('sender') == sender)
                and (state is None or r.get('protocol_state') == state)]

    def close_all(self):
        """Close every connection from this side, as a server whose idle
        timeout passed; returns how many."""
        with self.lock:
            socks = list(self.open)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(socks)

    def stop(self):
        self.stopping.set()
        if self.serving.is_set():
            self.srv.shutdown()
        self.thread.join(5)
        self.close_all()
        self.srv.server_close()
