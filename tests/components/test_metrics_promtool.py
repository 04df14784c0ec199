"""
test_metrics_promtool.py - real scrapes of smtpd's metrics endpoint,
checked by Prometheus' own linter: `promtool check metrics` (Debian's
prometheus package) reads the exposition on stdin and exits non-zero on
a format error or any lint problem (names, units, HELP, _total).
Scrapes are taken idle, after traffic of every kind counted (delivered,
refused, DNS-listed), and while ten clients send mail. Then a real
Prometheus server scrapes it and stores what it read.
"""

import json
import os
import shutil
import smtplib
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request

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


class PrometheusScrapes(DaemonTestCase):
    """A real Prometheus server (Debian's prometheus) scrapes smtpd every
    second: its target is up with no scrape error, and a message sent is
    seen in what it stored."""

    @classmethod
    def setUpClass(cls):
        cls.mport = free_port()
        cls.extra_config = ['metrics 127.0.0.1:%d' % cls.mport]
        super().setUpClass()
        cls.daemon.wait_listening(cls.mport)

    def setUp(self):
        super().setUp()
        binary = shutil.which('prometheus') or '/usr/bin/prometheus'
        if not os.access(binary, os.X_OK):
            self.fail('prometheus not found: apt-get install prometheus')
        self.tmp = tempfile.mkdtemp(prefix='smtpd-prom-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pport = free_port()
        conf = os.path.join(self.tmp, 'prometheus.yml')
        with open(conf, 'w') as f:
            f.write('global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n'
                    'scrape_configs:\n  - job_name: smtpd\n    static_configs:\n'
                    '      - targets: ["127.0.0.1:%d"]\n' % self.mport)
        self.log = open(os.path.join(self.tmp, 'prometheus.log'), 'wb')
        self.addCleanup(self.log.close)
        self.prom = subprocess.Popen(
            [binary, '--config.file=' + conf,
             '--storage.tsdb.path=' + os.path.join(self.tmp, 'data'),
             '--web.listen-address=127.0.0.1:%d' % self.pport],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, cwd=self.tmp)
        self.addCleanup(self.stop_prometheus)

    def stop_prometheus(self):
        self.prom.terminate()
        try:
            self.prom.wait(20)
        except subprocess.TimeoutExpired:
            self.prom.kill()
            self.prom.wait()

    def prom_log(self):
        with open(os.path.join(self.tmp, 'prometheus.log'), 'rb') as f:
            return f.read()[-3000:].decode('utf-8', 'replace')

    def api(self, path):
        with urllib.request.urlopen('http://127.0.0.1:%d%s' % (self.pport, path),
                                    timeout=IO_TIMEOUT) as r:
            return json.loads(r.read().decode())

    def until(self, what, check, seconds=60):
        """Poll check() (a value, or None to wait) until the deadline."""
        deadline = time.monotonic() + seconds
        last = None
        while time.monotonic() < deadline:
            if self.prom.poll() is not None:
                self.fail('prometheus exited:\n' + self.prom_log())
            try:
                last = check()
            except (OSError, ValueError) as e:      # not up yet
                last = e
            else:
                if last is not None:
                    return last
            time.sleep(0.2)
        self.fail('%s: not within %ds (last: %r)\n%s' % (what, seconds, last,
                                                        self.prom_log()))

    def query(self, expr):
        r = self.api('/api/v1/query?query=' + urllib.parse.quote(expr))
        res = r['data']['result']
        return float(res[0]['value'][1]) if res else None

    def test_scraped(self):
        def target_healthy():
            t = self.api('/api/v1/targets')['data']['activeTargets']
            if t and t[0]['health'] == 'up':
                return t[0]
            if t and t[0]['lastError']:
                return t[0]     # a scrape error is the answer
            return None

        target = self.until('the smtpd target scraped', target_healthy)
        self.assertEqual(target['lastError'], '')
        self.assertEqual(target['health'], 'up')
        s = smtplib.SMTP('127.0.0.1', self.port, local_hostname=HELO, timeout=IO_TIMEOUT)
        s.sendmail('a@x.test', ['user@example.org'], 'Subject: x\r\n\r\nbody\r\n')
        s.quit()

        def accepted():
            v = self.query('smtpd_messages_accepted_total{job="smtpd"}')
            return v if v is not None and v >= 1 else None

        self.assertGreaterEqual(self.until('the message counted', accepted), 1)
        self.assertEqual(self.query('up{job="smtpd"}'), 1)
        v = self.query('sum(smtpd_delivery_duration_seconds_count{job="smtpd"})')
        self.assertGreaterEqual(v, 1)
