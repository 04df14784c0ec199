"""
test_metrics.py - the metrics endpoint ("metrics ADDR:PORT"): the
Prometheus text format over HTTP/1.x, counters that follow real
traffic, the answers to anything else (404, 405, 400, 431), a silent
client dropped after the timeout, the SMTP service unaffected by a
scraper that hangs, scrapes under load, reloads, and smtpd -n -v.

SMTPD_METRICS_TIMEOUT_MS (an internal knob of metrics.c) makes the
daemon's timeout short, so a dropped client is seen within seconds.
"""

import os
import re
import shutil
import signal
import smtplib
import socket
import tempfile
import threading
import time
import unittest

from dnsserver import DNSServer, reverse4
from harness import (HELO, IO_TIMEOUT, Daemon, DaemonTestCase, RawClient,
                     free_port, ipv6_loopback_available, run_smtpd)
from metricsclient import get, http, parse, scrape, split_response, total
from test_limits import SourcedClient

TIMEOUT_MS = 1500


def with_timeout(start):
    """Run start() with the metrics timeout set for the daemon it starts."""
    old = os.environ.get('SMTPD_METRICS_TIMEOUT_MS')
    os.environ['SMTPD_METRICS_TIMEOUT_MS'] = str(TIMEOUT_MS)
    try:
        return start()
    finally:
        if old is None:
            del os.environ['SMTPD_METRICS_TIMEOUT_MS']
        else:
            os.environ['SMTPD_METRICS_TIMEOUT_MS'] = old


class MetricsCase(DaemonTestCase):
    """A daemon with a metrics listener on a port of the class's own."""

    @classmethod
    def setUpClass(cls):
        cls.mport = free_port()
        cls.extra_config = ['metrics 127.0.0.1:%d' % cls.mport]
        with_timeout(super(MetricsCase, cls).setUpClass)
        cls.daemon.wait_listening(cls.mport)

    def send_mail(self, rcpt='user@example.org', body='Subject: t\r\n\r\nhello\r\n'):
        s = self.smtp()
        s.sendmail('a@x.test', [rcpt], body)
        s.quit()


class Scrape(MetricsCase):

    def test_format(self):
        status, headers, body = scrape(self.mport)
        self.assertEqual(status, 200)
        self.assertEqual(headers['content-type'],
                         'text/plain; version=0.0.4; charset=utf-8')
        self.assertEqual(headers['connection'], 'close')
        text = body.decode('utf-8')
        samples = parse(text)
        for name in ('smtpd_sessions_active', 'smtpd_sessions_total',
                     'smtpd_messages_accepted_total', 'smtpd_recipients_accepted_total',
                     'smtpd_accepted_bytes_total', 'smtpd_client_threads_peak',
                     'smtpd_config_reloads_total', 'smtpd_start_time_seconds',
                     'smtpd_uptime_seconds', 'smtpd_delivery_duration_seconds_count'):
            self.assertIn(name, {n for n, l in samples}, name)
        self.assertIn('# TYPE smtpd_refusals_total counter\n', text)
        self.assertIn('# TYPE smtpd_delivery_duration_seconds histogram\n', text)
        self.assertEqual(total(samples, 'smtpd_build_info'), 1)
        # Started within the last day, by the machine's clock.
        self.assertLess(abs(total(samples, 'smtpd_start_time_seconds') - time.time()), 86400)

    def test_head(self):
        raw = http(self.mport, b'HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
        head, sep, body = raw.partition(b'\r\n\r\n')
        self.assertTrue(head.startswith(b'HTTP/1.1 200 OK\r\n'), raw[:100])
        self.assertEqual(body, b'')
        self.assertGreater(int(re.search(rb'Content-Length: (\d+)', head).group(1)), 1000)

    def test_http10_and_query(self):
        raw = http(self.mport, b'GET /metrics?name[]=x HTTP/1.0\r\n\r\n')
        status, headers, body = split_response(raw)
        self.assertEqual(status, 200)
        parse(body.decode())

    def test_counters_move(self):
        before = get(self.mport)
        self.send_mail()
        c = self.raw()
        c.ehlo()
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        c.send('RCPT TO:<user@elsewhere.test>\r\n')
        c.expect(550, '5.7.1')          # relay denied
        c.send('RCPT TO:<bad address>\r\n')
        c.expect(501, '5.1.3')
        c.send('QUIT\r\n')
        c.expect(221)
        c.close()
        self.assertOneMessage('user')
        after = get(self.mport)

        def delta(name, **labels):
            return total(after, name, **labels) - total(before, name, **labels)

        self.assertEqual(delta('smtpd_messages_accepted_total'), 1)
        self.assertEqual(delta('smtpd_recipients_accepted_total'), 1)
        self.assertGreaterEqual(delta('smtpd_sessions_total'), 2)
        self.assertGreater(delta('smtpd_accepted_bytes_total'), 10)
        self.assertEqual(delta('smtpd_delivery_duration_seconds_count'), 1)
        self.assertEqual(delta('smtpd_delivery_duration_seconds_bucket', le='+Inf'), 1)
        self.assertEqual(delta('smtpd_refusals_total', reason='security_policy',
                               **{'class': '5xx'}), 1)
        self.assertEqual(delta('smtpd_refusals_total', reason='addressing',
                               **{'class': '5xx'}), 1)
        self.assertEqual(delta('smtpd_refusals_total'), 2)
        self.assertEqual(delta('smtpd_refusals_total', **{'class': '4xx'}), 0)
        # The session ends on the server's side just after its 221: the
        # count goes back to 0 then (waited for, bounded).
        deadline = time.monotonic() + 5
        active = total(after, 'smtpd_sessions_active')
        while active != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
            active = total(get(self.mport), 'smtpd_sessions_active')
        self.assertEqual(active, 0)
        self.assertGreaterEqual(total(after, 'smtpd_client_threads_peak'), 1)

    def test_active_session_seen(self):
        c = self.raw()
        c.ehlo()
        s = get(self.mport)
        self.assertGreaterEqual(total(s, 'smtpd_sessions_active'), 1)
        self.assertGreaterEqual(total(s, 'smtpd_client_threads', state='session'), 1)
        c.send('QUIT\r\n')
        c.expect(221)

    def test_not_found(self):
        for path in ('/other', '/', '/metrics/', '/metricsx'):
            status, headers, body = scrape(self.mport, path=path)
            self.assertEqual(status, 404, path)
            self.assertEqual(headers['connection'], 'close')

    def test_other_methods(self):
        status, headers, body = scrape(self.mport, method='POST')
        self.assertEqual(status, 405)
        self.assertEqual(headers['allow'], 'GET, HEAD')

    def test_garbage(self):
        for data in (b'garbage\r\n\r\n', b'GET /metrics\r\n\r\n',
                     b'GET /metrics HTTP/1.1\r\n\r\n',              # no Host
                     b'GET /metrics HTTP/1.1\r\nHost: x\r\n bad\r\n\r\n',
                     b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n',
                     b'GET /metrics HTTP/1.1\r\nHo\x00st: x\r\n\r\n'):
            status, headers, body = split_response(http(self.mport, data))
            self.assertEqual(status, 400, data)
        # A scrape after all that still works.
        get(self.mport)

    def test_oversized_head(self):
        data = (b'GET /metrics HTTP/1.1\r\nHost: x\r\n'
                + b''.join(b'X-Filler-%d: %s\r\n' % (i, b'a' * 100) for i in range(60))
                + b'\r\n')
        self.assertGreater(len(data), 4096)
        status, headers, body = split_response(http(self.mport, data))
        self.assertEqual(status, 431)
        # One long line, never ended.
        status, headers, body = split_response(http(self.mport, b'GET /' + b'm' * 5000))
        self.assertEqual(status, 431)
        get(self.mport)

    def test_silent_client_dropped(self):
        s = socket.create_connection(('127.0.0.1', self.mport), timeout=TIMEOUT_MS / 1000 * 5)
        self.addCleanup(s.close)
        # The server closes without an answer once its timeout passes;
        # the socket timeout only bounds the test.
        self.assertEqual(s.recv(100), b'')
        get(self.mport)

    def test_slow_client_dropped(self):
        """Sending a byte now and then does not keep the connection: the
        timeout is for the whole request head."""
        s = socket.create_connection(('127.0.0.1', self.mport), timeout=IO_TIMEOUT)
        self.addCleanup(s.close)
        deadline = time.monotonic() + TIMEOUT_MS / 1000 * 5
        closed = False
        while time.monotonic() < deadline:
            try:
                s.send(b'X')
            except OSError:
                closed = True
                break
            s.settimeout(0.2)
            try:
                if s.recv(100) == b'':
                    closed = True
                    break
            except socket.timeout:
                pass
        self.assertTrue(closed, 'a client trickling bytes was never dropped')

    def test_smtp_unaffected_by_hanging_scraper(self):
        hang = socket.create_connection(('127.0.0.1', self.mport), timeout=IO_TIMEOUT)
        self.addCleanup(hang.close)
        hang.sendall(b'GET /metr')          # and nothing more
        # The metrics thread is busy with it; mail goes on.
        for i in range(3):
            self.send_mail()
        self.assertEqual(len(self.messages('user')), 3)
        hang.close()
        s = get(self.mport)
        self.assertGreaterEqual(total(s, 'smtpd_messages_accepted_total'), 3)

    def test_scrape_under_load(self):
        senders, per_sender = 10, 5
        errors = []
        before = get(self.mport)

        def send():
            try:
                for i in range(per_sender):
                    s = smtplib.SMTP('127.0.0.1', self.port, local_hostname=HELO,
                                     timeout=IO_TIMEOUT * 2)
                    s.sendmail('a@x.test', ['user@example.org'],
                               'Subject: load %d\r\n\r\nbody\r\n' % i)
                    s.quit()
            except Exception as e:      # reported by the main thread
                errors.append(repr(e))

        threads = [threading.Thread(target=send) for _ in range(senders)]
        for t in threads:
            t.start()
        scrapes = []
        try:
            while any(t.is_alive() for t in threads) or len(scrapes) < 3:
                scrapes.append(get(self.mport))     # every one must parse
        finally:
            for t in threads:
                t.join(60)
        self.assertEqual(errors, [])
        after = get(self.mport)
        scrapes.append(after)
        self.assertEqual(total(after, 'smtpd_messages_accepted_total')
                         - total(before, 'smtpd_messages_accepted_total'),
                         senders * per_sender)
        self.assertEqual(len(self.messages('user')), senders * per_sender)
        # Counters never go back between scrapes.
        for a, b in zip(scrapes, scrapes[1:]):
            for key in a:
                if key[0].endswith('_total') or key[0].endswith('_count'):
                    self.assertLessEqual(a[key], b.get(key, 0), key)
        self.assertGreaterEqual(total(after, 'smtpd_client_threads_peak'), 2)


class Off(DaemonTestCase):
    """Without a metrics line no socket is opened for it."""

    def test_no_metrics_socket(self):
        fds = self.daemon.open_files()
        sockets = [t for t in fds.values() if t.startswith('socket:')]
        self.assertEqual(len(sockets), 1, fds)     # the SMTP listener alone
        self.assertNotIn('metrics', self.daemon.stderr())


class Reload(DaemonTestCase):
    shared_daemon = False

    def test_reload_counted_and_address_kept(self):
        mport, other = free_port(), free_port()
        d = Daemon(['metrics 127.0.0.1:%d' % mport])
        self.addCleanup(d.cleanup)
        with_timeout(d.start)
        self.addCleanup(d.stop_and_check)
        d.wait_listening(mport)
        self.assertIn('metrics on http://127.0.0.1:%d/metrics' % mport, d.stderr())
        with open(d.conf) as f:
            conf = f.read()

        def reload(text, expect):
            with open(d.conf, 'w') as f:
                f.write(text)
            d.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while expect not in d.stderr(100000):
                self.assertLess(time.monotonic(), deadline, d.stderr())
                time.sleep(0.05)

        reload(conf.replace(str(mport), str(other)),
               'reload: metrics changes take effect at restart')
        s = get(mport)                          # still where it was
        self.assertEqual(total(s, 'smtpd_config_reloads_total', result='success'), 1)
        self.assertEqual(total(s, 'smtpd_config_last_reload_successful'), 1)
        reload(conf + 'no_such_directive 1\n', 'reload failed')
        s = get(mport)
        self.assertEqual(total(s, 'smtpd_config_reloads_total', result='failure'), 1)
        self.assertEqual(total(s, 'smtpd_config_last_reload_successful'), 0)


class Config(DaemonTestCase):
    shared_daemon = False

    def conf(self, *lines):
        d = Daemon(lines)
        self.addCleanup(d.cleanup)
        return d.conf

    def test_printed_and_parsed_back(self):
        for value in ('127.0.0.1:9125', '[::1]:9125', '*:9125'):
            p = run_smtpd(['-n', '-v', '-f', self.conf('metrics ' + value)])
            self.assertEqual(p.returncode, 0, p.stderr)
            out = p.stdout.decode()
            self.assertIn('\nmetrics %s\n' % value, out)
            # What is printed loads back into the same configuration.
            p2 = run_smtpd(['-n', '-v', '-f', self.write(out.split('\n', 1)[1])])
            self.assertEqual(p2.returncode, 0, p2.stderr)
            self.assertEqual(p2.stdout.split(b'\n', 1)[1], p.stdout.split(b'\n', 1)[1])
        p = run_smtpd(['-n', '-v', '-f', self.conf()])
        self.assertIn('\n# metrics: not set', p.stdout.decode())

    def write(self, text):
        d = Daemon(base=False)
        self.addCleanup(d.cleanup)
        with open(d.conf, 'w') as f:
            f.write(text)
        return d.conf

    def test_errors_name_the_line(self):
        conf = self.conf('metrics localhost:1', 'metrics 127.0.0.1:9125',
                         'metrics 127.0.0.1:9126')
        p = run_smtpd(['-n', '-f', conf])
        self.assertEqual(p.returncode, 1)
        err = p.stderr.decode()
        self.assertRegex(err, r'smtpd\.conf:\d+: metrics: given twice')
        self.assertRegex(err, r'smtpd\.conf:\d+: metrics "localhost": not an IPv4 address')

    def test_busy_port_refuses_start(self):
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        d = Daemon(['metrics 127.0.0.1:%d' % busy.getsockname()[1]])
        self.addCleanup(d.cleanup)
        try:
            d.start()       # may see the SMTP socket before the exit
        except AssertionError:
            pass
        self.assertEqual(d.proc.wait(10), 1)
        self.assertIn('metrics: cannot bind 127.0.0.1 port', d.stderr())


class Screening(DaemonTestCase):
    """The refusals of the screening carry their reason; DNS list
    look-ups count by outcome (answers from dnsserver.py)."""
    shared_daemon = False

    def metrics_daemon(self, *lines):
        """A private daemon with metrics: (SMTP port, metrics port)."""
        mport = free_port()
        d = self.start_daemon(['metrics 127.0.0.1:%d' % mport] + list(lines))
        d.wait_listening(mport)
        return d.port, mport

    def refusals(self, samples, reason, cls):
        return total(samples, 'smtpd_refusals_total', reason=reason, **{'class': cls})

    def test_max_clients(self):
        port, mport = self.metrics_daemon('max_clients 1')
        first = RawClient(port)
        self.addCleanup(first.close)
        second = RawClient(port, greeting=False)
        self.addCleanup(second.close)
        second.expect(421, '4.7.0')
        s = get(mport)
        self.assertEqual(self.refusals(s, 'max_clients', '4xx'), 1)
        self.assertEqual(total(s, 'smtpd_refusals_total'), 1)
        self.assertEqual(total(s, 'smtpd_sessions_active'), 1)

    def test_message_rate(self):
        port, mport = self.metrics_daemon('max_message_rate 1')
        c = RawClient(port)
        self.addCleanup(c.close)
        c.ehlo()
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        c.send('RSET\r\n')
        c.expect(250)
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(450, '4.7.1')
        s = get(mport)
        self.assertEqual(self.refusals(s, 'message_rate', '4xx'), 1)
        self.assertEqual(total(s, 'smtpd_refusals_total'), 1)

    def test_dnsbl(self):
        dns = DNSServer()
        self.addCleanup(dns.close)
        dns.add(reverse4('127.0.0.30', 'bl.test'), 'A', '127.0.0.2')
        dns.behave(reverse4('127.0.0.31', 'bl.test'), 'servfail')
        dns.add(reverse4('127.0.0.32', 'bl.test'), 'A', '127.255.255.254')
        port, mport = self.metrics_daemon('resolver 127.0.0.1:%d' % dns.port,
                                    'dnsbl bl.test', 'dns_timeout 3')

        def rcpt(source, code):
            c = SourcedClient(port, source)
            self.addCleanup(c.close)
            c.ehlo()
            c.send('MAIL FROM:<a@x.test>\r\n')
            c.expect(250)
            c.send('RCPT TO:<user@example.org>\r\n')
            c.expect(code)
            c.send('QUIT\r\n')
            c.expect(221)

        rcpt('127.0.0.30', 554)
        rcpt('127.0.0.33', 250)         # NXDOMAIN
        rcpt('127.0.0.31', 250)
        rcpt('127.0.0.32', 250)
        s = get(mport)
        for result, n in (('listed', 1), ('not_listed', 1), ('error', 1),
                          ('refused', 1), ('timeout', 0)):
            self.assertEqual(total(s, 'smtpd_dnsbl_lookups_total', result=result), n, result)
        self.assertEqual(self.refusals(s, 'dnsbl', '5xx'), 1)
        self.assertEqual(total(s, 'smtpd_dnsbl_blocked_clients_total'), 1)
        self.assertEqual(total(s, 'smtpd_dnsbl_cache_lookups_total', result='miss'), 4)

    @unittest.skipUnless(ipv6_loopback_available(), 'no IPv6 loopback')
    def test_ipv6_listener(self):
        mport = free_port(socket.AF_INET6, '::1')
        self.start_daemon(['metrics [::1]:%d' % mport])
        status, headers, body = scrape(mport, host='::1')
        self.assertEqual(status, 200)
        parse(body.decode())


class Filters(DaemonTestCase):
    """The policy servers' answers and the milters' decisions are
    counted, and their refusals carry their reason."""
    shared_daemon = False

    def test_policy_and_milter_outcomes(self):
        from miltertest import REJECT, TestMilter
        from policyserver import PolicyServer

        tmp = tempfile.mkdtemp(prefix='metrics-filters-')
        self.addCleanup(shutil.rmtree, tmp, True)
        policy = PolicyServer(lambda req: 'REJECT no' if
                              req.get('recipient', '').startswith('no@') else 'DUNNO',
                              path=os.path.join(tmp, 'policy.sock'))
        self.addCleanup(policy.stop)
        milter = TestMilter(path=os.path.join(tmp, 'milter.sock'))
        self.addCleanup(milter.close)
        milter.script['eom'] = lambda conn, data: [REJECT] if b'spam' in conn.body() else []
        mport = free_port()
        d = self.start_daemon(['metrics 127.0.0.1:%d' % mport,
                               'policy_server ' + policy.spec, 'milter ' + milter.spec])
        d.wait_listening(mport)
        before = get(mport)
        for name in ('smtpd_policy_answers_total', 'smtpd_milter_decisions_total',
                     'smtpd_policy_requests_total', 'smtpd_policy_connects_total'):
            self.assertEqual(total(before, name), 0, name)

        c = RawClient(d.port)
        self.addCleanup(c.close)
        c.ehlo()
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        c.send('RCPT TO:<no@example.org>\r\n')
        c.expect(550, '5.7.1')
        c.send('RCPT TO:<user@example.org>\r\n')
        c.expect(250)
        c.send('DATA\r\n')
        c.expect(354)
        c.send('Subject: spam\r\n\r\nspam\r\n.\r\n')
        c.expect(550, '5.7.1')
        c.send('QUIT\r\n')
        c.expect(221)

        s = get(mport)
        self.assertEqual(total(s, 'smtpd_policy_answers_total', action='reject'), 1)
        self.assertEqual(total(s, 'smtpd_policy_answers_total', action='dunno'), 1)
        self.assertEqual(total(s, 'smtpd_policy_requests_total'), 2)
        self.assertEqual(total(s, 'smtpd_policy_connects_total'), 1)  # reused
        self.assertEqual(total(s, 'smtpd_milter_decisions_total', decision='reject'), 1)
        self.assertEqual(total(s, 'smtpd_refusals_total', reason='policy_service',
                               **{'class': '5xx'}), 1)
        self.assertEqual(total(s, 'smtpd_refusals_total', reason='milter',
                               **{'class': '5xx'}), 1)
        self.assertEqual(total(s, 'smtpd_messages_accepted_total'), 0)
