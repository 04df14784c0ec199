"""A small DNS server for the tests, on loopback only (standard library).

Answers A, AAAA, PTR and TXT from a table; a name may instead be set to
be dropped, delayed, answered SERVFAIL. Records every question, so a
test can count them. Unknown names get NXDOMAIN (with an SOA, TTL 300).
A TXT value longer than 255 bytes (a DKIM key) goes out as several
character-strings of at most 255 bytes in the one record, as RFC 1035
and RFC 6376 3.6.2.2 have it; a tuple of strings gives them explicitly.

    dns = DNSServer()            # 127.0.0.1, a free port; dns.port
    dns.add('2.0.0.127.bl.test', 'A', '127.0.0.2', ttl=300)
    dns.behave('3.0.0.127.bl.test', 'drop' | 'servfail' | ('delay', 1.5))
    dns.count('2.0.0.127.bl.test')   # questions seen for it
    dns.close()
"""

import socket
import struct
import threading

TYPES = {'A': 1, 'PTR': 12, 'TXT': 16, 'AAAA': 28, 'SOA': 6}


def encode_name(name):
    out = b''
    for label in name.rstrip('.').split('.'):
        if label:
            out += bytes([len(label)]) + label.encode('ascii')
    return out + b'\0'


def decode_name(pkt, off):
    labels = []
    while True:
        n = pkt[off]
        if n == 0:
            return '.'.join(labels), off + 1
        labels.append(pkt[off + 1:off + 1 + n].decode('ascii', 'replace'))
        off += 1 + n


def txt_rdata(value):
    """TXT RDATA: one or more <length><bytes> character-strings. A str
    is cut into 255-byte pieces; a tuple or list names the pieces."""
    if isinstance(value, (tuple, list)):
        pieces = [v.encode() for v in value]
    else:
        v = value.encode()
        pieces = [v[i:i + 255] for i in range(0, len(v), 255)] or [b'']
    out = b''
    for piece in pieces:
        if len(piece) > 255:
            raise ValueError('TXT character-string longer than 255 bytes')
        out += bytes([len(piece)]) + piece
    return out


def nibble_name(addr6, zone):
    """The RFC 5782 query name of an IPv6 address under zone."""
    packed = socket.inet_pton(socket.AF_INET6, addr6)
    return '.'.join(reversed('%032x' % int.from_bytes(packed, 'big'))) + '.' + zone


def reverse4(addr, zone):
    return '.'.join(reversed(addr.split('.'))) + '.' + zone


class DNSServer:
    def __init__(self, host='127.0.0.1', port=0):
        # port 53 only inside a private network namespace (the SPF
        # component test): the resolvers of other programs ask there.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.records = {}
        self.behaviour = {}
        self.questions = []
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def add(self, name, rtype, value, ttl=300):
        with self.lock:
            self.records.setdefault((name.lower(), TYPES[rtype]), []).append((value, ttl))

    def behave(self, name, how):
        with self.lock:
            self.behaviour[name.lower()] = how

    def count(self, name):
        with self.lock:
            return sum(1 for n, t in self.questions if n == name.lower())

    def total(self):
        with self.lock:
            return len(self.questions)

    def close(self):
        self.closed = True
        self.sock.close()

    def _rdata(self, rtype, value):
        if rtype == 1:
            return socket.inet_pton(socket.AF_INET, value)
        if rtype == 28:
            return socket.inet_pton(socket.AF_INET6, value)
        if rtype == 12:
            return encode_name(value)
        if rtype == 16:
            return txt_rdata(value)
        raise ValueError(rtype)

    def _serve(self):
        while not self.closed:
            try:
                pkt, peer = self.sock.recvfrom(2048)
            except OSError:
                return
            try:
                self._answer(pkt, peer)
            except Exception:       # a broken question: no answer
                pass

    def _answer(self, pkt, peer):
        qid, flags, qd = struct.unpack('!HHH', pkt[:6])
        name, off = decode_name(pkt, 12)
        qtype, qclass = struct.unpack('!HH', pkt[off:off + 4])
        question = pkt[12:off + 4]
        name = name.lower()
        with self.lock:
            self.questions.append((name, qtype))
            how = self.behaviour.get(name)
            recs = list(self.records.get((name, qtype), []))
            exists = any(k[0] == name for k in self.records)
        if how == 'drop':
            return
        rcode, answers, auth = 0, b'', b''
        if how == 'servfail':
            rcode = 2
        elif recs:
            for value, ttl in recs:
                rd = self._rdata(qtype, value)
                answers += struct.pack('!HHHIH', 0xc00c, qtype, 1, ttl, len(rd)) + rd
        else:
            rcode = 0 if exists else 3
            soa = (encode_name('ns.test') + encode_name('root.test') +
                   struct.pack('!IIIII', 1, 3600, 600, 86400, 300))
            auth = encode_name('test') + struct.pack('!HHIH', 6, 1, 300, len(soa)) + soa
        hdr = struct.pack('!HHHHHH', qid, 0x8180 | (flags & 0x0100) | rcode, 1,
                          len(recs) if rcode == 0 and recs else 0, 1 if auth else 0, 0)
        reply = hdr + question + answers + auth
        if isinstance(how, tuple) and how[0] == 'delay':
            t = threading.Timer(how[1], self._send, (reply, peer))
            t.daemon = True
            t.start()
        else:
            self._send(reply, peer)

    def _send(self, reply, peer):
        try:
            self.sock.sendto(reply, peer)
        except OSError:
            pass
