"""
test_metrics_promtool.py - real scrapes of smtpd's metrics endpoint,
checked by Prometheus' own linter: `promtool check metrics` (Debian's
prometheus package) reads the exposition on stdin and exits non-zero on
a format error or any lint problem (names, units, HELP, _total).
Scrapes are taken idle, after traffic of every kind counted (delivered,
refused, DNS-listed), and while ten clients send mail.
"""

import shutil
import smtplib
import subprocess
import threading

from dnsserver import DNSServer, reverse4
from harness import HELO, IO_TIMEOUT, DaemonTestCase, free_port
from metricsclient import parse, scrape, total
from test_limits import SourcedClient

PROMTOOL = '/usr/bin/promtool'


def promtool_check(body):
    """(exit status, output) of promtool check metrics on body."""
    path = shutil.which('promtool') or PROMTOOL
    p = subprocess.run([path, 'check', 'metrics'], input=body,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    return p.returncode, p.stdout.decode('utf-8', 'replace')


class Promtool(DaemonTestCase):

    @classmethod
    def setUpClass(cls):
        cls.dns = DNSServer()
        cls.dns.add(reverse4('127.0.0.10', 'bl.test'), 'A', '127.0.0.2')
        cls.mport = free_port()
        cls.extra_config = ['metrics 127.0.0.1:%d' % cls.mport,
                            'resolver 127.0.0.1:%d' % cls.dns.port,
                            'dnsbl bl.test', 'dns_timeout 2']
        try:
            super().setUpClass()
            cls.daemon.wait_listening(cls.mport)
        except BaseException:
            cls.dns.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.dns.close()

    def setUp(self):
        super().setUp()
        if not (shutil.which('promtool') or shutil.which(PROMTOOL)):
            self.fail('promtool not found: apt-get install prometheus')

    def check_scrape(self):
        status, headers, body = scrape(self.mport)
        self.assertEqual(status, 200)
        rc, out = promtool_check(body)
        self.assertEqual(rc, 0, 'promtool check metrics:\n' + out)
        self.assertEqual(out.strip(), '', out)
        return parse(body.decode('utf-8'))

    def test_idle(self):
        self.check_scrape()

    def test_after_traffic(self):
        s = smtplib.SMTP('127.0.0.1', self.port, local_hostname=HELO, timeout=IO_TIMEOUT)
        s.sendmail('a@x.test', ['user@example.org'], 'Subject: x\r\n\r\nbody\r\n')
        code, _ = s.docmd('RCPT TO:<user@elsewhere.test>')
        self.assertEqual(code, 503)     # no transaction: refused all the same
        s.quit()
        # A listed client: 554 for the DNS list at RCPT.
        c = SourcedClient(self.port, '127.0.0.10')
        self.addCleanup(c.close)
        c.send('EHLO client.test\r\n')
        c.read_reply()
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        c.send('RCPT TO:<user@example.org>\r\n')
        c.expect(554, '5.7.1')
        c.send('QUIT\r\n')
        c.expect(221)
        samples = self.check_scrape()
        self.assertGreaterEqual(total(samples, 'smtpd_refusals_total', reason='dnsbl',
                                      **{'class': '5xx'}), 1)
        self.assertGreaterEqual(total(samples, 'smtpd_dnsbl_lookups_total',
                                      result='listed'), 1)
        self.assertGreaterEqual(total(samples, 'smtpd_dnsbl_blocked_clients_total'), 1)
        self.assertGreaterEqual(total(samples, 'smtpd_messages_accepted_total'), 1)

    def test_under_load(self):
        errors = []

        def send():
            try:
                for i in range(5):
                    s = smtplib.SMTP('127.0.0.1', self.port, local_hostname=HELO,
                                     timeout=IO_TIMEOUT * 2)
                    s.sendmail('a@x.test', ['user@example.org'], 'Subject: %d\r\n\r\nb\r\n' % i)
                    s.quit()
            except Exception as e:
                errors.append(repr(e))

        threads = [threading.Thread(target=send) for _ in range(10)]
        for t in threads:
            t.start()
        checked = 0
        try:
            while any(t.is_alive() for t in threads) or checked < 3:
                self.check_scrape()
                checked += 1
        finally:
            for t in threads:
                t.join(60)
        self.assertEqual(errors, [])
        self.check_scrape()
