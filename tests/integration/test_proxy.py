"""
test_proxy.py - PROXY protocol v1/v2 listeners: the real client shows in
Received: and the log; only proxy_from peers may speak it; nothing that
rides along with the header is executed: it is the client's, and an
early talker's.
"""

import socket
import struct
import time
import unittest

from harness import Daemon, RawClient, read_new, split_trace

V2_SIG = b'\r\n\r\n\x00\r\nQUIT\n'


def v2_header(src, dst, sport, dport, family=socket.AF_INET, command=0x21):
    if family == socket.AF_INET:
        addrs = socket.inet_pton(family, src) + socket.inet_pton(family, dst)
        fam = 0x11
    else:
        addrs = socket.inet_pton(family, src) + socket.inet_pton(family, dst)
        fam = 0x21
    addrs += struct.pack('!HH', sport, dport)
    return V2_SIG + bytes([command, fam]) + struct.pack('!H', len(addrs)) + addrs


class ProxyCase(unittest.TestCase):
    allow = '127.0.0.0/8'

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(['proxy_from ' + cls.allow], listen=['127.0.0.1:{port} proxy'])
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.stop_and_check()
        finally:
            cls.d.cleanup()

    def connect(self, header):
        c = RawClient(self.d.port, greeting=False)
        c.send(header)
        return c

    def deliver(self, c, rcpt):
        c.expect(220)
        c.envelope(rcpts=('%s@example.org' % rcpt,), pipelined=False)
        c.cmd('DATA')
        c.send(b'Subject: p\r\n\r\nvia proxy\r\n.\r\n')
        c.expect(250)
        c.cmd('QUIT')
        msgs = read_new(self.d.maildir_path(rcpt))
        self.assertEqual(len(msgs), 1)
        return split_trace(msgs[0])[1]


class TestProxyAllowed(ProxyCase):

    def test_v1_tcp4_real_client_in_received_and_log(self):
        c = self.connect(b'PROXY TCP4 203.0.113.7 127.0.0.1 40000 25\r\n')
        received = self.deliver(c, 'v1')
        self.assertIn('[203.0.113.7]', received)
        self.assertIn('client=[203.0.113.7]', self.d.stderr(100000))

    def test_v1_tcp6(self):
        c = self.connect(b'PROXY TCP6 2001:db8::5 ::1 40000 25\r\n')
        self.assertIn('[IPv6:2001:db8::5]', self.deliver(c, 'v1six'))

    def test_v2_ipv4_and_ipv6(self):
        c = self.connect(v2_header('198.51.100.9', '127.0.0.1', 4000, 25))
        self.assertIn('[198.51.100.9]', self.deliver(c, 'v2four'))
        c = self.connect(v2_header('2001:db8::9', '::1', 4000, 25, socket.AF_INET6))
        self.assertIn('[IPv6:2001:db8::9]', self.deliver(c, 'v2six'))

    def test_v2_local_keeps_socket_address(self):
        hdr = V2_SIG + bytes([0x20, 0x00]) + b'\x00\x00'
        c = self.connect(hdr)
        self.assertIn('[127.0.0.1]', self.deliver(c, 'local'))

    def test_header_in_pieces(self):
        c = RawClient(self.d.port, greeting=False)
        for piece in (b'PROX', b'Y TCP4 192.0.2.1 ', b'127.0.0.1 1 25\r', b'\n'):
            c.send(piece)
            time.sleep(0.05)
        self.assertIn('[192.0.2.1]', self.deliver(c, 'pieces'))

    def test_bytes_after_header_are_the_clients(self):
        # An SMTP command riding in the same packet as the header is the
        # client's, sent before the greeting: an early talker, answered
        # 554 and closed, never executed and never silently dropped.
        c = self.connect(b'PROXY TCP4 192.0.2.2 127.0.0.1 1 25\r\nMAIL FROM:<x@y>\r\n')
        r = c.read_reply()
        self.assertEqual(r.code, 554)
        self.assertIn('talked before the greeting', ' '.join(r.lines))
        self.assertTrue(c.is_closed())
        deadline = time.monotonic() + 5
        while 'client=[192.0.2.2] reject code=554' not in self.d.stderr(100000):
            self.assertLess(time.monotonic(), deadline, self.d.stderr())
            time.sleep(0.02)

    def test_header_then_nothing_is_greeted(self):
        # The header alone, then the client waits: it is greeted.
        c = self.connect(b'PROXY TCP4 192.0.2.3 127.0.0.1 1 25\r\n')
        self.assertIn('[192.0.2.3]', self.deliver(c, 'waited'))

    def test_garbage_or_plain_smtp_is_refused(self):
        for junk in (b'EHLO client.test\r\n', b'PROXY TCP4 bogus\r\n',
                     b'PROXY TCP4 1.2.3.4 5.6.7.8 99999 25\r\n',
                     V2_SIG + b'\x10\x11\x00\x0c' + b'\x00' * 12,
                     b'PROXY ' + b'A' * 200 + b'\r\n'):
            c = self.connect(junk)
            self.assertTrue(c.is_closed(), junk)
            self.assertNotIn(b'220', c.buf, junk)


class TestProxyNotAllowed(ProxyCase):
    allow = '192.0.2.0/24'

    def test_peer_outside_proxy_from_is_refused(self):
        c = self.connect(b'PROXY TCP4 203.0.113.7 127.0.0.1 40000 25\r\n')
        self.assertTrue(c.is_closed())
        self.assertNotIn(b'220', c.buf)
        self.assertIn('proxy_from', self.d.stderr())


if __name__ == '__main__':
    unittest.main()
