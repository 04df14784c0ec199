"""Screening (issue 18): error_delay, allow, rate limits, DNS lists,
reverse_dns. Every DNS question goes to dnsserver.py on loopback."""

import time
import unittest

from harness import DaemonTestCase, RawClient
from test_limits import SourcedClient


class ErrorDelay(DaemonTestCase):
    extra_config = ['error_delay 1', 'allow 127.0.0.2/32']

    def timed(self, c, line, code):
        t = time.monotonic()
        c.send(line + '\r\n')
        c.expect(code)
        return time.monotonic() - t

    def test_first_error_at_once_later_ones_delayed(self):
        c = self.raw()
        c.ehlo()
        self.assertLess(self.timed(c, 'BOGUS', 500), 0.8)
        self.assertGreaterEqual(self.timed(c, 'BOGUS', 500), 0.95)
        self.assertGreaterEqual(self.timed(c, 'RCPT TO:<a@example.org>', 503), 0.95)
        # Good replies are never delayed.
        self.assertLess(self.timed(c, 'NOOP', 250), 0.5)

    def test_pipelined_replies_before_the_delay_are_sent(self):
        c = self.raw()
        c.send('EHLO x.test\r\nBOGUS\r\nNOOP\r\nBOGUS\r\n')
        c.expect(250)
        c.expect(500)
        t = time.monotonic()
        c.expect(250)       # the NOOP's reply came before the wait
        self.assertLess(time.monotonic() - t, 0.5)
        c.expect(500)

    def test_allowed_client_not_delayed(self):
        c = SourcedClient(self.port, '127.0.0.2')
        self.addCleanup(c.close)
        c.send('BOGUS\r\n')
        c.expect(500)
        self.assertLess(self.timed(c, 'BOGUS', 500), 0.5)


class Rates(DaemonTestCase):
    extra_config = ['max_connection_rate 3', 'max_message_rate 2',
                    'allow 127.0.0.9/32']

    def test_connection_rate(self):
        for i in range(3):
            c = SourcedClient(self.port, '127.0.0.3')
            c.send('QUIT\r\n')
            c.expect(221)
            c.close()
        c = SourcedClient(self.port, '127.0.0.3', greeting=False)
        self.addCleanup(c.close)
        c.expect(421, '4.7.0')
        self.assertTrue(c.is_closed())
        # Another client is not affected.
        c2 = SourcedClient(self.port, '127.0.0.4')
        self.addCleanup(c2.close)
        self.assertIn('refused connection: max_connection_rate 3',
                      self.daemon.stderr(100000))

    def test_message_rate(self):
        c = SourcedClient(self.port, '127.0.0.5')
        self.addCleanup(c.close)
        c.ehlo()
        for i in range(2):
            c.send('MAIL FROM:<a@x.test>\r\n')
            c.expect(250)
            c.send('RSET\r\n')
            c.expect(250)
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(450, '4.7.1')

    def test_allowed_client_not_limited(self):
        for i in range(5):
            c = SourcedClient(self.port, '127.0.0.9')
            c.ehlo()
            for k in range(3):
                c.send('MAIL FROM:<a@x.test>\r\nRSET\r\n')
                c.expect(250)
                c.expect(250)
            c.send('QUIT\r\n')
            c.expect(221)
            c.close()


if __name__ == '__main__':
    unittest.main()
