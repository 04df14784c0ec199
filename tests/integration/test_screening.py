"""Screening (issue 18): error_delay, allow, rate limits, DNS lists,
reverse_dns. Every DNS question goes to dnsserver.py on loopback."""

import signal
import socket
import time
import unittest

from dnsserver import DNSServer, nibble_name, reverse4
from harness import DaemonTestCase, RawClient, ipv6_loopback_available
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


class ErrorDelayStop(DaemonTestCase):
    """A shutdown does not wait out an error_delay sleep."""
    shared_daemon = False

    def test_shutdown_ends_the_sleep(self):
        d = self.start_daemon(['error_delay 30'])
        c = RawClient(d.port, timeout=15)
        self.addCleanup(c.close)
        c.send('NOSUCH\r\n')
        c.expect(500)
        c.send('NOSUCH\r\n')     # its reply waits 30 s
        time.sleep(0.5)             # let the session start sleeping
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(15), 0)
        self.assertLess(time.monotonic() - t0, 10)


class DnsWaitStop(DaemonTestCase):
    """A shutdown does not wait out dns_timeout for a list that never
    answers (the session waits for it at MAIL)."""
    shared_daemon = False

    def test_shutdown_ends_the_wait(self):
        dns = DNSServer()
        self.addCleanup(dns.close)
        dns.behave(reverse4('127.0.0.1', 'bl.test'), 'drop')
        d = self.start_daemon(['resolver 127.0.0.1:%d' % dns.port,
                               'dnsbl bl.test', 'dns_timeout 60'])
        c = RawClient(d.port, timeout=15)
        self.addCleanup(c.close)
        c.ehlo()
        c.send('MAIL FROM:<a@x.test>\r\n')
        deadline = time.monotonic() + 10
        while dns.total() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(dns.total(), 1)
        time.sleep(0.3)             # the session waits for the answer
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(15), 0)
        self.assertLess(time.monotonic() - t0, 10)


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

    def test_status_counts_refusals(self):
        import signal
        c = SourcedClient(self.port, '127.0.0.6')
        self.addCleanup(c.close)
        c.ehlo()
        for i in range(3):
            c.send('MAIL FROM:<a@x.test>\r\nRSET\r\n')
            c.read_reply()
            c.expect(250)
        self.daemon.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 3
        while 'status ' not in self.daemon.stderr(100000) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertRegex(self.daemon.stderr(100000),
                         r'status .* refused_connection_rate=\d+ refused_message_rate=[1-9]\d* '
                         r'refused_dnsbl=0')

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


class DNSTestCase(DaemonTestCase):
    """A daemon whose resolver is a DNSServer of the class's own."""
    dns_config = ()

    @classmethod
    def setUpClass(cls):
        cls.dns = DNSServer()
        cls.extra_config = ['resolver 127.0.0.1:%d' % cls.dns.port] + list(cls.dns_config)
        try:
            super().setUpClass()
        except BaseException:
            cls.dns.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.dns.close()

    def client(self, source):
        c = SourcedClient(self.port, source)
        self.addCleanup(c.close)
        c.ehlo()
        return c

    def rcpt(self, c, code, enhanced=None):
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        c.send('RCPT TO:<user@example.org>\r\n')
        return c.expect(code, enhanced)

    def log(self):
        return self.daemon.stderr(1000000)


class Dnsbl(DNSTestCase):
    dns_config = ['dnsbl bl.test*2', 'dnsbl wl.test=127.0.[0..255].[1..3]*-2',
                  'dnsbl one.test', 'dnsbl two.test*1',
                  'dnsbl f.test=127.0.0.[2..3]*5', 'dnsbl_threshold 2',
                  'dns_timeout 2', 'allow 127.0.1.0/24']

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.dns
        d.add(reverse4('127.0.0.10', 'bl.test'), 'A', '127.0.0.2')     # listed
        d.add(reverse4('127.0.0.12', 'bl.test'), 'A', '127.0.0.2')     # and allowed
        d.add(reverse4('127.0.0.12', 'wl.test'), 'A', '127.0.5.2')
        d.add(reverse4('127.0.0.13', 'one.test'), 'A', '127.0.0.2')    # 1 < 2
        d.add(reverse4('127.0.0.14', 'one.test'), 'A', '127.0.0.2')    # 1 + 1
        d.add(reverse4('127.0.0.14', 'two.test'), 'A', '127.0.0.9')
        d.add(reverse4('127.0.0.15', 'f.test'), 'A', '127.0.0.4')      # filtered
        d.add(reverse4('127.0.0.16', 'f.test'), 'A', '127.0.0.3')      # matches
        d.add(reverse4('127.0.0.16', 'bl.test'), 'A', '127.0.0.2')
        d.behave(reverse4('127.0.0.17', 'bl.test'), 'servfail')
        d.add(reverse4('127.0.0.18', 'bl.test'), 'A', '127.255.255.254')
        d.add(reverse4('127.0.1.5', 'bl.test'), 'A', '127.0.0.2')      # allow line
        d.add(reverse4('127.0.0.19', 'bl.test'), 'A', '127.0.0.2', ttl=600)

    def test_listed(self):
        c = self.client('127.0.0.10')
        r = self.rcpt(c, 554, '5.7.1')
        self.assertIn('Service unavailable; client [127.0.0.10] blocked using bl.test',
                      r.text)
        c.send('RSET\r\n')
        c.expect(250)
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(554, '5.7.1')
        self.assertIn('client=[127.0.0.10] dnsbl=bl.test:127.0.0.2 score=2', self.log())

    def test_not_listed(self):
        c = self.client('127.0.0.11')
        self.rcpt(c, 250)
        self.assertIn('client=[127.0.0.11] dnsbl=none score=0', self.log())

    def test_allow_list_beats_listing(self):
        self.rcpt(self.client('127.0.0.12'), 250)
        self.assertIn('client=[127.0.0.12] dnsbl=bl.test:127.0.0.2 score=0', self.log())

    def test_threshold_sums_lists(self):
        self.rcpt(self.client('127.0.0.13'), 250)
        r = self.rcpt(self.client('127.0.0.14'), 554, '5.7.1')
        self.assertIn('blocked using one.test', r.text)

    def test_answer_filter(self):
        self.rcpt(self.client('127.0.0.15'), 250)
        r = self.rcpt(self.client('127.0.0.16'), 554)
        # The heaviest listing zone is named.
        self.assertIn('blocked using f.test', r.text)
        self.assertIn('client=[127.0.0.16] dnsbl=f.test:127.0.0.3 score=7', self.log())

    def test_servfail_is_not_listed(self):
        self.rcpt(self.client('127.0.0.17'), 250)
        self.assertIn('client=[127.0.0.17] dnsbl bl.test: SERVFAIL, not listed', self.log())

    def test_refusal_answer_is_not_listed(self):
        self.rcpt(self.client('127.0.0.18'), 250)
        self.assertIn('client=[127.0.0.18] dnsbl bl.test refused the query '
                      '(answer 127.255.255.254)', self.log())

    def test_allowed_network_not_asked(self):
        self.rcpt(self.client('127.0.1.5'), 250)
        self.assertEqual(self.dns.count(reverse4('127.0.1.5', 'bl.test')), 0)

    def test_cache(self):
        name = reverse4('127.0.0.19', 'bl.test')
        self.rcpt(self.client('127.0.0.19'), 554)
        self.assertEqual(self.dns.count(name), 1)
        self.rcpt(self.client('127.0.0.19'), 554)
        self.assertEqual(self.dns.count(name), 1)

    def test_timeout_does_not_delay_greeting(self):
        for zone in ('bl.test', 'wl.test', 'one.test', 'two.test', 'f.test'):
            self.dns.behave(reverse4('127.0.0.20', zone), 'drop')
        t = time.monotonic()
        c = SourcedClient(self.port, '127.0.0.20')
        self.addCleanup(c.close)
        self.assertLess(time.monotonic() - t, 0.5)
        c.ehlo()
        t = time.monotonic()
        self.rcpt(c, 250)
        waited = time.monotonic() - t
        self.assertGreater(waited, 1.0)
        self.assertLess(waited, 3.5)
        self.assertIn('client=[127.0.0.20] dnsbl bl.test: no answer within 2s, '
                      'not listed', self.log())
        # The session goes on, and waits no more.
        t = time.monotonic()
        c.send('RCPT TO:<other@example.org>\r\n')
        c.expect(250)
        self.assertLess(time.monotonic() - t, 0.5)

    def test_all_queries_sent_at_connect(self):
        c = SourcedClient(self.port, '127.0.0.21')
        self.addCleanup(c.close)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if all(self.dns.count(reverse4('127.0.0.21', z)) == 1
                   for z in ('bl.test', 'wl.test', 'one.test', 'two.test', 'f.test')):
                break
            time.sleep(0.02)
        else:
            self.fail('not every list was asked before the first command')


@unittest.skipUnless(ipv6_loopback_available(), 'no IPv6 loopback')
class DnsblIPv6(DNSTestCase):
    listen = ['[::1]:{port}']
    dns_config = ['dnsbl bl.test']

    def test_nibble_query(self):
        self.dns.add(nibble_name('::1', 'bl.test'), 'A', '127.0.0.2')
        c = RawClient(self.port, host='::1', family=socket.AF_INET6)
        self.addCleanup(c.close)
        c.ehlo()
        r = self.rcpt(c, 554, '5.7.1')
        self.assertIn('client [::1] blocked using bl.test', r.text)
        self.assertEqual(self.dns.count(nibble_name('::1', 'bl.test')), 1)


class NoDnsblNoQuery(DNSTestCase):
    dns_config = ['max_message_rate 100']

    def test_no_query(self):
        self.rcpt(self.client('127.0.0.30'), 250)
        self.assertEqual(self.dns.total(), 0)


class ReverseDns(DNSTestCase):
    dns_config = ['reverse_dns yes', 'dns_timeout 2']

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.dns
        d.add(reverse4('127.0.0.40', 'in-addr.arpa'), 'PTR', 'mx.good.test')
        d.add('mx.good.test', 'A', '127.0.0.40')
        d.add(reverse4('127.0.0.41', 'in-addr.arpa'), 'PTR', 'liar.test')
        d.add('liar.test', 'A', '127.0.0.99')
        d.add(reverse4('127.0.0.43', 'in-addr.arpa'), 'PTR', 'bad name.test')

    def received(self, source):
        c = self.client(source)
        r = self.send_raw(b'Subject: x\r\n\r\nx\r\n', client=c)
        self.assertEqual(r.code, 250, r)
        msg = self.assertOneMessage('user')
        self.daemon.clear_spool()
        return msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg

    def test_confirmed_name(self):
        raw = self.received('127.0.0.40')
        self.assertIn('(mx.good.test [127.0.0.40])', raw)
        self.assertIn('client=[127.0.0.40] name=mx.good.test', self.log())

    def test_unconfirmed_name_is_unknown(self):
        raw = self.received('127.0.0.41')
        self.assertIn('(unknown [127.0.0.41])', raw)
        self.assertIn('client=[127.0.0.41] name=unknown reason=name does not lead back',
                      self.log())

    def test_no_ptr_is_unknown(self):
        raw = self.received('127.0.0.42')
        self.assertIn('(unknown [127.0.0.42])', raw)

    def test_ptr_that_is_not_a_host_name(self):
        raw = self.received('127.0.0.43')
        self.assertIn('(unknown [127.0.0.43])', raw)


if __name__ == '__main__':
    unittest.main()
