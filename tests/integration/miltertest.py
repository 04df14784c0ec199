"""
miltertest.py - a scriptable milter (libmilter's protocol, version 6) for
the tests: a threaded server on a unix socket or a loopback port.

    m = TestMilter(path='/tmp/x/milter.sock')   # or TestMilter(port=0)
    m.script['eom'] = [addheader('X-Test', 'yes'), CONTINUE]
    ... smtpd talks to it ...
    m.conns[-1].events  -> [(stage, data, macros), ...]
    m.close()

A stage's script entry is a list of replies sent in order (the last one
the verdict), or a callable(conn, data) returning such a list. Stages:
connect helo mail rcpt data header eoh body eom; unscripted stages
answer CONTINUE. Special replies: ('sleep', seconds), ('close',),
('raw', bytes). actions/protocol are what the milter answers to the
option negotiation; it never replies to a step its protocol flags say
it will not answer.
"""

import socket
import struct
import threading
import time

SMFIP_NOCONNECT = 0x1
SMFIP_NOHELO = 0x2
SMFIP_NOMAIL = 0x4
SMFIP_NORCPT = 0x8
SMFIP_NOBODY = 0x10
SMFIP_NOHDRS = 0x20
SMFIP_NOEOH = 0x40
SMFIP_NR_HDR = 0x80
SMFIP_NODATA = 0x200
SMFIP_SKIP = 0x400
SMFIP_NR_CONN = 0x1000
SMFIP_NR_HELO = 0x2000
SMFIP_NR_MAIL = 0x4000
SMFIP_NR_RCPT = 0x8000
SMFIP_NR_DATA = 0x10000
SMFIP_NR_EOH = 0x40000
SMFIP_NR_BODY = 0x80000
SMFIP_HDR_LEADSPC = 0x100000

SMFIF_ADDHDRS = 0x1
SMFIF_CHGBODY = 0x2
SMFIF_CHGHDRS = 0x10
SMFIF_QUARANTINE = 0x20

STAGES = {b'C': 'connect', b'H': 'helo', b'M': 'mail', b'R': 'rcpt', b'T': 'data',
          b'L': 'header', b'N': 'eoh', b'B': 'body', b'E': 'eom', b'A': 'abort',
          b'Q': 'quit', b'O': 'optneg', b'D': 'macro'}
NOREPLY = {'connect': SMFIP_NR_CONN, 'helo': SMFIP_NR_HELO, 'mail': SMFIP_NR_MAIL,
           'rcpt': SMFIP_NR_RCPT, 'data': SMFIP_NR_DATA, 'header': SMFIP_NR_HDR,
           'eoh': SMFIP_NR_EOH, 'body': SMFIP_NR_BODY}

CONTINUE = (b'c', b'')
ACCEPT = (b'a', b'')
REJECT = (b'r', b'')
TEMPFAIL = (b't', b'')
DISCARD = (b'd', b'')
SKIP = (b's', b'')
PROGRESS = (b'p', b'')


def replycode(text):
    return (b'y', text.encode() + b'\0')


def addheader(name, value):
    return (b'h', name.encode() + b'\0' + value.encode() + b'\0')


def insheader(index, name, value):
    return (b'i', struct.pack('>I', index) + name.encode() + b'\0' + value.encode() + b'\0')


def chgheader(index, name, value):
    return (b'm', struct.pack('>I', index) + name.encode() + b'\0' + value.encode() + b'\0')


def quarantine(reason):
    return (b'q', reason.encode() + b'\0')


def replbody(data):
    return (b'b', data)


def addrcpt(addr):
    return (b'+', addr.encode() + b'\0')


def split_nul(data):
    """b'a\\0b\\0' -> [b'a', b'b']"""
    parts = data.split(b'\0')
    if parts and parts[-1] == b'':
        parts.pop()
    return parts


class Conn:
    """One connection from smtpd, as the milter saw it."""

    def __init__(self):
        self.events = []          # (stage, data, macros of that stage)
        self.macros = {}          # stage -> {name: value}, the last seen
        self.optneg = None        # (version, actions, protocol) offered
        self.closed = False

    def stages(self):
        return [e[0] for e in self.events]

    def of(self, stage):
        return [e for e in self.events if e[0] == stage]

    def headers(self):
        out = []
        for _, data, _ in self.of('header'):
            name, value = data.split(b'\0', 1)
            out.append((name.decode(), value[:-1].decode('utf-8', 'replace')))
        return out

    def body(self):
        return b''.join(d for _, d, _ in self.of('body'))


class TestMilter:
    def __init__(self, path=None, port=None, actions=SMFIF_ADDHDRS | SMFIF_CHGHDRS |
                 SMFIF_QUARANTINE, protocol=0, version=6):
        self.actions = actions
        self.protocol = protocol
        self.version = version
        self.script = {}
        self.conns = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.stop = False
        if path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(path)
            self.spec = 'unix:' + path
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(('127.0.0.1', port or 0))
            self.port = self.sock.getsockname()[1]
            self.spec = 'inet:127.0.0.1:%d' % self.port
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.threads = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def reset(self):
        with self.lock:
            self.script = {}
            self.conns = []
            self.protocol_next = None

    def _accept(self):
        while not self.stop:
            try:
                s, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c = Conn()
            with self.lock:
                self.conns.append(c)
            t = threading.Thread(target=self._serve, args=(s, c), daemon=True)
            t.start()
            self.threads.append(t)

    def close(self):
        self.stop = True
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(2)

    def wait(self, pred, timeout=10.0):
        """Wait until pred() is true (the milter's threads record events)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if pred():
                    return True
            time.sleep(0.01)
        with self.lock:
            return pred()

    def wait_closed(self, n=1, timeout=10.0):
        return self.wait(lambda: len(self.conns) >= n and
                         all(c.closed for c in self.conns[:n]), timeout)

    @staticmethod
    def _recv(s, n):
        buf = b''
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    @staticmethod
    def _send(s, cmd, data=b''):
        s.sendall(struct.pack('>I', len(data) + 1) + cmd + data)

    def _serve(self, s, c):
        s.settimeout(30)
        try:
            self._loop(s, c)
        except (EOFError, OSError):
            pass
        finally:
            with self.lock:
                c.closed = True
            try:
                s.close()
            except OSError:
                pass

    def _loop(self, s, c):
        while True:
            n = struct.unpack('>I', self._recv(s, 4))[0]
            pkt = self._recv(s, n)
            cmd, data = pkt[:1], pkt[1:]
            stage = STAGES.get(cmd, cmd.decode('latin-1'))
            if stage == 'optneg':
                c.optneg = struct.unpack('>III', data[:12])
                self._send(s, b'O', struct.pack('>III', self.version, self.actions,
                                                self.protocol))
                continue
            if stage == 'macro':
                st = STAGES.get(data[:1], '?')
                parts = split_nul(data[1:])
                with self.lock:
                    c.macros[st] = {parts[i].decode(): parts[i + 1].decode()
                                    for i in range(0, len(parts) - 1, 2)}
                continue
            with self.lock:
                c.events.append((stage, data, dict(c.macros.get(stage, {}))))
                self.cond.notify_all()
            if stage in ('abort',):
                continue
            if stage == 'quit':
                return
            if stage in NOREPLY and (self.protocol & NOREPLY[stage]):
                continue
            replies = self.script.get(stage, [CONTINUE])
            if callable(replies):
                replies = replies(c, data)
            for r in replies:
                if r[0] == 'sleep':
                    time.sleep(r[1])
                elif r[0] == 'close':
                    s.close()
                    raise EOFError
                elif r[0] == 'raw':
                    s.sendall(r[1])
                else:
                    self._send(s, r[0], r[1])
