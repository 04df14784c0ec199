"""
test_xclient.py - XCLIENT (Postfix's XCLIENT_README), as nginx's mail
proxy uses it in front of smtpd: only xclient_from peers see it and may
use it; the client it names is the one in Received:, in the log lines,
in max_clients_per_ip and in the screening (allow, rates, DNS lists,
reverse DNS); hostile arguments are refused with 501 and change nothing.

The proxy here is a raw client on 127.0.0.1 (xclient_from 127.0.0.1/32);
other clients bind 127.0.0.2 and up.
"""

import re
import time
import unittest

from dnsserver import reverse4
from harness import DaemonTestCase, Daemon, run_smtpd, split_trace
from test_limits import SourcedClient
from test_screening import DNSTestCase

PROXY = 'xclient_from 127.0.0.1/32'
EHLO_LINE = 'XCLIENT ADDR PORT NAME HELO PROTO LOGIN DESTADDR DESTPORT'
# What nginx 1.22 sends (captured in test_nginx_starttls.py's set-up):
# its own EHLO, then XCLIENT ADDR= NAME=, then the client's EHLO.
NGINX_HELO = 'mx.example.org'


class XclientCase(DaemonTestCase):

    def proxy(self, ehlo=True):
        """A client on 127.0.0.1 (the proxy), greeted and EHLO'd."""
        c = self.raw()
        if ehlo:
            r = c.ehlo(NGINX_HELO)
            self.assertIn(EHLO_LINE, r.lines)
        return c

    def client(self, source, ehlo=True):
        c = SourcedClient(self.port, source)
        self.addCleanup(c.close)
        if ehlo:
            c.ehlo()
        return c

    def xclient(self, c, args, code=220, enhanced=None):
        c.send('XCLIENT %s\r\n' % args)
        return c.expect(code, enhanced)

    def deliver(self, c, rcpt='user', helo=None):
        """A message over c (already EHLO'd unless helo is given); the
        Received: line of the copy stored."""
        self.daemon.clear_spool()
        c.envelope(rcpts=('%s@example.org' % rcpt,), helo=helo, pipelined=False)
        c.send('DATA\r\n')
        c.expect(354)
        c.send('Subject: x\r\n\r\nvia the proxy\r\n.\r\n')
        c.expect(250, '2.0.0')
        msgs = self.messages(rcpt)
        self.assertEqual(len(msgs), 1)
        return split_trace(msgs[0])[1]

    def log(self):
        return self.daemon.stderr(1000000)

    def wait_log(self, pattern, timeout=5.0):
        """The log once it matches the regular expression (lines logged
        after the reply that caused them)."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log()):
            if time.monotonic() > deadline:
                self.fail('no log line matches %r:\n%s' % (pattern, self.log()[-3000:]))
            time.sleep(0.02)
        return self.log()


class Xclient(XclientCase):
    extra_config = [PROXY, 'xclient_from 198.51.100.0/24']

    def test_advertised_to_xclient_from_only(self):
        self.proxy()
        r = self.client('127.0.0.2', ehlo=False).ehlo()
        self.assertFalse([l for l in r.lines if 'XCLIENT' in l], r)

    def test_others_get_550(self):
        c = self.client('127.0.0.2')
        self.xclient(c, 'ADDR=192.0.2.1', 550, '5.7.0')
        # Before EHLO too, and in any case; the session goes on as it was.
        c2 = self.client('127.0.0.3', ehlo=False)
        self.xclient(c2, 'addr=192.0.2.1', 550, '5.7.0')
        self.assertIn('([127.0.0.2])', self.deliver(c))
        self.assertIn('client=[127.0.0.2] reject code=550 5.7.0', self.log())

    def test_nginx_conversation(self):
        # What nginx sends, then a message: the client nginx named is the
        # one in the greeting reply, Received: and every log line.
        c = self.proxy()
        r = self.xclient(c, 'ADDR=192.0.2.7 NAME=[UNAVAILABLE]')
        self.assertEqual(r.lines, ['mx.test ESMTP smtpd'])
        r = c.ehlo('real.client.test')
        self.assertEqual(r.lines[0], 'mx.test Hello real.client.test [192.0.2.7]')
        received = self.deliver(c)
        self.assertTrue(received.startswith(
            'Received: from real.client.test ([192.0.2.7]) by mx.test (smtpd) with ESMTP'),
            received)
        self.assertNotIn('127.0.0.1', received)
        c.send('QUIT\r\n')
        c.expect(221)
        log = self.wait_log(r'disconnect client=\[192\.0\.2\.7\] helo="real\.client\.test"')
        self.assertRegex(log, r'session=(\d+) xclient client=\[192\.0\.2\.7\] port=0 '
                         r'name=- helo=- proto=- login=- destaddr=- destport=-1 '
                         r'proxy=\[127\.0\.0\.1\]')
        self.assertRegex(log, r'id=\w+ session=\d+ client=\[192\.0\.2\.7\] '
                         r'helo="real\.client\.test" .* result=delivered')

    def test_every_attribute(self):
        c = self.proxy()
        self.xclient(c, 'NAME=mail.example.net ADDR=192.0.2.8 PORT=40001 '
                     'HELO=helo.example.net PROTO=SMTP LOGIN=john+20doe '
                     'DESTADDR=198.51.100.25 DESTPORT=25')
        # HELO= stands for the client's HELO: MAIL may follow at once.
        received = self.deliver(c)
        self.assertIn('Received: from helo.example.net (mail.example.net [192.0.2.8]) '
                      'by mx.test (smtpd) with SMTP', received)
        self.assertIn('xclient client=[192.0.2.8] port=40001 name="mail.example.net" '
                      'helo="helo.example.net" proto=SMTP login="john doe" '
                      'destaddr=198.51.100.25 destport=25 proxy=[127.0.0.1]', self.log())

    def test_state_starts_over(self):
        # Without HELO= the client must greet again; what the proxy's
        # EHLO said is gone.
        c = self.proxy()
        self.xclient(c, 'ADDR=192.0.2.9 PROTO=ESMTP')
        c.send('MAIL FROM:<a@x.test>\r\n')
        r = c.expect(503, '5.5.1')
        self.assertIn('Send HELO/EHLO first', r.text)
        # The client named is not in xclient_from: no second XCLIENT,
        # and EHLO no longer announces it.
        r = c.ehlo()
        self.assertNotIn(EHLO_LINE, r.lines)
        self.xclient(c, 'ADDR=192.0.2.10', 550, '5.7.0')
        self.assertIn('([192.0.2.9])', self.deliver(c))

    def test_not_in_a_transaction(self):
        c = self.proxy()
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        r = self.xclient(c, 'ADDR=192.0.2.11', 503, '5.5.1')
        self.assertIn('MAIL transaction in progress', r.text)
        c.send('RCPT TO:<user@example.org>\r\n')
        c.expect(250)
        self.xclient(c, 'ADDR=192.0.2.11', 503, '5.5.1')
        # The transaction is untouched; after it, XCLIENT works.
        c.send('DATA\r\n')
        c.expect(354)
        c.send('.\r\n')
        c.expect(250)
        self.xclient(c, 'ADDR=192.0.2.11')
        # Nor in a BDAT transaction.
        c.ehlo()
        c.envelope(helo=None, pipelined=False)
        c.send('BDAT 3\r\nabc')
        c.expect(250)
        self.xclient(c, 'ADDR=192.0.2.12', 503, '5.5.1')
        c.send('BDAT 0 LAST\r\n')
        c.expect(250, '2.0.0')
        self.assertIn('([192.0.2.11])', split_trace(self.messages('user')[-1])[1])

    def test_syntax_errors_501(self):
        c = self.proxy()
        for args, text in (('', 'Syntax: XCLIENT attribute=value...'),
                           ('ADDR', 'attribute=value expected'),
                           ('ADDR=', 'attribute=value expected'),
                           ('FOO=bar', 'Bad XCLIENT attribute name'),
                           ('ADDR=192.0.2', 'Bad ADDR syntax'),
                           ('ADDR=2001:db8::1', 'Bad ADDR syntax'),
                           ('PORT=65536', 'Bad PORT syntax'),
                           ('PROTO=ESMTPS', 'Bad PROTO syntax'),
                           ('NAME=[192.0.2.1]', 'Bad NAME syntax'),
                           ('HELO=a+0D+0AMAIL', 'Bad HELO syntax'),
                           ('HELO=a+', 'not xtext'),
                           ('LOGIN=a=b', 'not xtext'),
                           ('LOGIN=+00', 'not xtext')):
            c.send(('XCLIENT %s' % args).rstrip() + '\r\n')
            r = c.expect(501, '5.5.4')
            self.assertIn(text, r.text, args)
        # Nothing changed: still the proxy, still EHLO'd.
        r = c.ehlo(NGINX_HELO)
        self.assertIn(EHLO_LINE, r.lines)
        self.assertIn('([127.0.0.1])', self.deliver(c))

    def test_ipv6(self):
        c = self.proxy()
        self.xclient(c, 'ADDR=IPv6:2001:db8::5 PORT=2525')
        r = c.ehlo('six.example')
        self.assertIn('[IPv6:2001:db8::5]', r.lines[0])
        self.assertIn('from six.example ([IPv6:2001:db8::5])', self.deliver(c))
        self.assertIn('xclient client=[IPv6:2001:db8::5] port=2525', self.log())

    def test_unavailable(self):
        c = self.proxy()
        self.xclient(c, 'ADDR=[UNAVAILABLE] NAME=[TEMPUNAVAIL] HELO=[unavailable] '
                     'PORT=[UNAVAILABLE] LOGIN=[UNAVAILABLE]')
        c.ehlo('nowhere.example')
        self.assertIn('from nowhere.example ([unknown])', self.deliver(c))
        self.assertIn('xclient client=[unknown] port=0 name=[TEMPUNAVAIL] helo=- '
                      'proto=- login=-', self.log())

    def test_xtext_decoded(self):
        c = self.proxy()
        self.xclient(c, 'ADDR=192.0.2.12 HELO=a+2Eexample+2Enet NAME=b+2Eexample')
        self.assertIn('from a.example.net (b.example [192.0.2.12])', self.deliver(c))

    def test_repeated_while_still_a_proxy(self):
        # A proxy naming another proxy (198.51.100.0/24 is in xclient_from)
        # may be followed by another XCLIENT; the last one counts.
        c = self.proxy()
        self.xclient(c, 'ADDR=198.51.100.1')
        r = c.ehlo('chain.example')
        self.assertIn(EHLO_LINE, r.lines)
        self.xclient(c, 'ADDR=192.0.2.13 NAME=last.example')
        self.xclient(c, 'ADDR=192.0.2.14', 550, '5.7.0')
        c.ehlo('end.example')
        self.assertIn('from end.example (last.example [192.0.2.13])', self.deliver(c))

    def test_hostile_arguments(self):
        c = self.proxy()
        # A value over 255 octets, encoded or not.
        r = self.xclient(c, 'LOGIN=' + 'a' * 256, 501, '5.5.4')
        self.assertIn('too long', r.text)
        self.xclient(c, 'LOGIN=' + '+41' * 100, 501, '5.5.4')
        # A line over every limit.
        c.send('XCLIENT ' + 'NAME=a ' * 200 + '\r\n')
        c.expect(500, '5.5.2')
        # Control characters, encoded: refused, never logged.
        self.xclient(c, 'ADDR=192.0.2.16 HELO=%s LOGIN=x+1B[2Jy+0D' % ('h' * 250), 501)
        self.assertNotIn('\x1b', self.log())
        # Many attributes within the line: the last of each counts.
        self.xclient(c, ' '.join('PORT=%d' % i for i in range(100)) + ' ADDR=192.0.2.15')
        self.assertIn('xclient client=[192.0.2.15] port=99 ', self.log())

    def test_bad_xclients_count_as_errors(self):
        c = self.proxy()
        for i in range(19):
            self.xclient(c, 'FOO=%d' % i, 501)
        c.send('XCLIENT FOO=x\r\n')
        c.expect(501)
        c.expect(421, '4.7.0')
        self.assertTrue(c.is_closed())

    def test_other_clients_unaffected(self):
        # A client not in xclient_from sees the same server as before.
        c = self.client('127.0.0.4')
        self.assertIn('([127.0.0.4])', self.deliver(c))


class XclientClientsPerIp(XclientCase):
    extra_config = [PROXY, 'xclient_from 198.51.100.0/24', 'max_clients_per_ip 2']

    def test_counted_under_the_named_client(self):
        held = []
        for i in range(2):
            c = self.proxy()
            self.xclient(c, 'ADDR=192.0.2.50')
            held.append(c)
        c = self.proxy()
        r = self.xclient(c, 'ADDR=192.0.2.50', 421, '4.7.0')
        self.assertIn('Too many connections from your address', r.text)
        self.assertTrue(c.is_closed())
        self.assertIn('client=[192.0.2.50] refused connection: max_clients_per_ip 2 reached',
                      self.log())
        # The proxy itself is not counted: a fourth and fifth session
        # from 127.0.0.1 for other clients are fine.
        for addr in ('192.0.2.51', '192.0.2.52'):
            self.xclient(self.proxy(), 'ADDR=%s' % addr)
        # Once one session of 192.0.2.50 ends, another may start.
        held.pop().send('QUIT\r\n')
        deadline = time.monotonic() + 5
        while True:
            c = self.proxy()
            c.send('XCLIENT ADDR=192.0.2.50\r\n')
            if c.read_reply().code == 220:
                break
            self.assertLess(time.monotonic(), deadline, 'the slot was not given back')
            time.sleep(0.05)

    def test_recounted_by_a_later_xclient(self):
        # A session that named 198.51.100.7 (a proxy too) and then
        # 192.0.2.60 no longer counts for 198.51.100.7.
        c = self.proxy()
        self.xclient(c, 'ADDR=198.51.100.7')
        self.xclient(c, 'ADDR=192.0.2.60')
        for i in range(2):
            self.xclient(self.proxy(), 'ADDR=198.51.100.7')

    def test_direct_clients_still_counted_at_connect(self):
        a = self.client('127.0.0.5', ehlo=False)
        b = self.client('127.0.0.5', ehlo=False)
        c = SourcedClient(self.port, '127.0.0.5', greeting=False)
        self.addCleanup(c.close)
        c.expect(421, '4.7.0')
        a.close()
        b.close()


class XclientScreening(XclientCase):
    extra_config = [PROXY, 'max_message_rate 1', 'max_connection_rate 2',
                    'allow 192.0.2.99/32']

    def test_message_rate_of_the_named_client(self):
        c = self.proxy()
        self.xclient(c, 'ADDR=192.0.2.98 HELO=rate.example')
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        c.send('RSET\r\n')
        c.expect(250)
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(450, '4.7.1')
        self.assertIn('client=[192.0.2.98] refused: max_message_rate 1 reached', self.log())
        # An allowed client named by XCLIENT is not limited ...
        c = self.proxy()
        self.xclient(c, 'ADDR=192.0.2.99 HELO=allowed.example')
        for i in range(3):
            c.send('MAIL FROM:<a@x.test>\r\n')
            c.expect(250)
            c.send('RSET\r\n')
            c.expect(250)
        self.assertIn('xclient client=[192.0.2.99] port=0 name=- helo="allowed.example" '
                      'proto=- login=- destaddr=- destport=-1 proxy=[127.0.0.1] allowed=yes',
                      self.log())
        # ... nor is the proxy itself, for its own MAILs.
        c = self.proxy()
        for i in range(3):
            c.send('MAIL FROM:<a@x.test>\r\n')
            c.expect(250)
            c.send('RSET\r\n')
            c.expect(250)

    def test_connection_rate_of_the_named_client(self):
        for i in range(2):
            self.xclient(self.proxy(), 'ADDR=192.0.2.70')
        c = self.proxy()
        r = self.xclient(c, 'ADDR=192.0.2.70', 421, '4.7.0')
        self.assertIn('Too many connections from your address', r.text)
        self.assertTrue(c.is_closed())
        self.assertIn('client=[192.0.2.70] refused connection: max_connection_rate 2 '
                      'reached', self.log())
        # The proxy's own connections are not counted (this is its 4th
        # and 5th in this test), and other clients go on.
        for addr in ('192.0.2.71', '192.0.2.72'):
            self.xclient(self.proxy(), 'ADDR=%s' % addr)


class XclientDnsbl(DNSTestCase, XclientCase):
    dns_config = [PROXY, 'dnsbl bl.test', 'reverse_dns yes', 'dns_timeout 2']

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.dns
        d.add(reverse4('192.0.2.10', 'bl.test'), 'A', '127.0.0.2')
        d.add(reverse4('127.0.0.1', 'bl.test'), 'A', '127.0.0.2')
        d.add(reverse4('192.0.2.40', 'in-addr.arpa'), 'PTR', 'mx.good.test')
        d.add('mx.good.test', 'A', '192.0.2.40')

    def test_named_client_is_screened(self):
        c = self.proxy()
        self.xclient(c, 'ADDR=192.0.2.10 HELO=listed.example')
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        c.send('RCPT TO:<user@example.org>\r\n')
        r = c.expect(554, '5.7.1')
        self.assertIn('client [192.0.2.10] blocked using bl.test', r.text)
        self.assertEqual(self.dns.count(reverse4('192.0.2.10', 'bl.test')), 1)

    def test_proxy_itself_is_not_screened(self):
        # 127.0.0.1 is listed, but it is the proxy: never asked about.
        c = self.proxy()
        self.assertIn('([127.0.0.1])', self.deliver(c))
        self.assertEqual(self.dns.count(reverse4('127.0.0.1', 'bl.test')), 0)
        self.assertEqual(self.dns.count(reverse4('127.0.0.1', 'in-addr.arpa')), 0)

    def test_reverse_dns_of_the_named_client(self):
        c = self.proxy()
        self.xclient(c, 'ADDR=192.0.2.40 NAME=[UNAVAILABLE]')
        c.ehlo('ptr.example')
        self.assertIn('from ptr.example (mx.good.test [192.0.2.40])', self.deliver(c))

    def test_name_given_is_not_looked_up(self):
        c = self.proxy()
        self.xclient(c, 'ADDR=192.0.2.41 NAME=given.example')
        c.ehlo('ptr.example')
        self.assertIn('from ptr.example (given.example [192.0.2.41])', self.deliver(c))
        self.assertEqual(self.dns.count(reverse4('192.0.2.41', 'in-addr.arpa')), 0)


class XclientConfig(unittest.TestCase):
    """xclient_from lines: errors name the file and line; at most 32."""

    def check(self, lines):
        d = Daemon(lines)
        self.addCleanup(d.cleanup)
        return run_smtpd(['-n', '-f', d.conf])

    def test_bad_values(self):
        for bad in ('xclient_from 127.0.0.1/33', 'xclient_from nginx.example',
                    'xclient_from 10.0.0.0/', 'xclient_from'):
            p = self.check([bad])
            self.assertEqual(p.returncode, 1, bad)
            self.assertRegex(p.stderr.decode(), r'smtpd\.conf:5: ', bad)

    def test_at_most_32(self):
        lines = ['xclient_from 10.0.0.%d' % i for i in range(32)]
        self.assertEqual(self.check(lines).returncode, 0)
        p = self.check(lines + ['xclient_from 10.0.1.1'])
        self.assertEqual(p.returncode, 1)
        self.assertIn('too many xclient_from lines (at most 32)', p.stderr.decode())


if __name__ == '__main__':
    unittest.main()
