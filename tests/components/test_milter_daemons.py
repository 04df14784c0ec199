"""
test_milter_daemons.py - smtpd's milter client against real milters from
Debian: OpenDKIM (/usr/sbin/opendkim) verifying DKIM signatures, and
rspamd (/usr/bin/rspamd) with its proxy worker speaking the milter
protocol. Each runs privately in a temporary directory on a unix socket
or a loopback port; nothing leaves the machine (OpenDKIM fetches the
signer's public key from dnsserver.py on loopback; rspamd's DNS goes to
a closed loopback port).
"""

import base64
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from dnsserver import DNSServer
from harness import Daemon, RawClient, split_trace, all_new_files, free_port

OPENDKIM = '/usr/sbin/opendkim'
RSPAMD = '/usr/bin/rspamd'
DKIMSIGN = '/usr/bin/dkimsign'     # python3-dkim's signer
START = 30.0        # seconds for a daemon to come up


def need(path):
    if not os.access(path, os.X_OK):
        raise AssertionError('%s is not installed (Debian package %s)'
                             % (path, os.path.basename(path)))


def wait_for(pred, timeout, what, proc=None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    text = ''
    if log and os.path.exists(log):
        with open(log, 'rb') as f:
            text = f.read()[-3000:].decode('utf-8', 'replace')
    raise AssertionError('%s did not come up:\n%s' % (what, text))


def port_open(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
        return True
    except OSError:
        return False


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def deliver(d, msg, rcpt='user@example.org', mail_from='a@sender.test'):
    """EHLO/MAIL/RCPT/DATA msg (CRLF, no dot-stuffing needed); the reply."""
    c = RawClient(d.port, timeout=30)
    try:
        c.envelope(rcpts=(rcpt,), mail_from=mail_from)
        c.send('DATA\r\n')
        c.expect(354)
        c.send(msg + b'.\r\n')
        return c.read_reply()
    finally:
        c.close()


# The signing domain. Not under .test: libunbound, OpenDKIM's resolver,
# answers every .test name NXDOMAIN itself (a built-in local zone, RFC
# 6761) without asking the forwarder; .example is reserved as well (RFC
# 2606) and goes out to the forwarder, which is dnsserver.py.
DKIM_DOMAIN = 'sender.example'
SELECTOR = 'sel'


class TestOpenDKIM(unittest.TestCase):
    """OpenDKIM verifying; the public key is a TXT record of dnsserver.py
    (SELECTOR._domainkey.DKIM_DOMAIN, 2048-bit RSA: longer than one
    255-byte character-string) on a free loopback port, named by
    OpenDKIM's Nameservers as 127.0.0.1@PORT (libunbound's forwarder
    syntax), so no other resolver is ever asked."""

    @classmethod
    def setUpClass(cls):
        need(OPENDKIM)
        need(DKIMSIGN)
        cls.tmp = tempfile.mkdtemp(prefix='smtpd-dkim-')
        key = os.path.join(cls.tmp, 'key.pem')
        subprocess.run(['openssl', 'genrsa', '-out', key, '2048'], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        der = subprocess.run(['openssl', 'rsa', '-in', key, '-pubout', '-outform', 'DER'],
                             check=True, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout
        cls.key = key
        cls.key_name = '%s._domainkey.%s' % (SELECTOR, DKIM_DOMAIN)
        record = 'v=DKIM1; k=rsa; p=' + base64.b64encode(der).decode()
        assert len(record) > 255, len(record)
        cls.dns = DNSServer()
        cls.dns.add(cls.key_name, 'TXT', record)
        cls.sock = os.path.join(cls.tmp, 'dkim.sock')
        conf = os.path.join(cls.tmp, 'opendkim.conf')
        with open(conf, 'w') as f:
            f.write('Background no\nMode v\nSocket local:%s\nPidFile %s/pid\n'
                    'Nameservers 127.0.0.1@%d\nAuthservID mx.test\nSyslog no\n'
                    'AlwaysAddARHeader yes\n' % (cls.sock, cls.tmp, cls.dns.port))
        cls.log = os.path.join(cls.tmp, 'opendkim.log')
        cls.logf = open(cls.log, 'wb')
        cls.proc = subprocess.Popen([OPENDKIM, '-f', '-x', conf], stdout=cls.logf,
                                    stderr=cls.logf, stdin=subprocess.DEVNULL)
        try:
            wait_for(lambda: os.path.exists(cls.sock), START, 'opendkim', cls.proc,
                     cls.log)
            cls.d = Daemon(['milter unix:' + cls.sock, 'milter_timeout 20'])
            cls.d.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        stop(cls.proc)
        cls.logf.close()
        cls.dns.close()
        d = getattr(cls, 'd', None)
        if d is not None:
            try:
                d.stop_and_check()
            finally:
                d.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.d.clear_spool()

    def signed(self, canon='simple', selector=SELECTOR):
        msg = (b'From: Alice <a@sender.example>\r\nTo: user@example.org\r\n'
               b'Subject:  signed,\r\n\twith a fold\r\n'
               b'Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n'
               b'Message-ID: <1@sender.example>\r\n\r\nHello, this is signed.\r\n'
               b'Second line.\r\n')
        p = subprocess.run([DKIMSIGN, '--hcanon', canon, '--bcanon', canon, selector,
                            DKIM_DOMAIN, self.key], input=msg, stdout=subprocess.PIPE,
                           check=True, timeout=30)
        out = p.stdout
        self.assertTrue(out.startswith(b'DKIM-Signature:'), out[:200])
        if b'\r\n' not in out.partition(b'\n')[0] + b'\n':
            out = out.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
        return out

    def stored_ar(self):
        files = list(all_new_files(self.d.spool).values())
        self.assertEqual(len(files), 1)
        rest = split_trace(files[0])[2]
        head = rest.partition(b'\n\n')[0].decode()
        ar = [l for l in head.replace('\n\t', ' ').replace('\n ', ' ').split('\n')
              if l.lower().startswith('authentication-results:')]
        self.assertEqual(len(ar), 1, head)
        return ar[0]

    def test_signed_message_passes(self):
        for canon in ('simple', 'relaxed'):
            self.d.clear_spool()
            r = deliver(self.d, self.signed(canon))
            self.assertEqual(r.code, 250, r)
            ar = self.stored_ar()
            self.assertIn('mx.test', ar)
            self.assertIn('dkim=pass', ar, canon)
            self.assertIn('header.d=sender.example', ar)
            self.assertIn('header.s=sel', ar)
        # The key came over DNS: OpenDKIM asked dnsserver.py for the
        # selector's TXT record (libunbound may cache it after that).
        self.assertGreaterEqual(self.dns.count(self.key_name), 1)

    def test_tampered_message_fails(self):
        msg = self.signed().replace(b'Hello, this is signed.', b'Hello, this is forged.')
        r = deliver(self.d, msg)
        self.assertEqual(r.code, 250, r)
        ar = self.stored_ar()
        self.assertIn('dkim=fail', ar)
        self.assertNotIn('dkim=pass', ar)

    def test_unknown_selector_does_not_pass(self):
        # Signed with the right key under a selector the DNS server has no
        # record for (NXDOMAIN): OpenDKIM finds no key, so no pass.
        name = 'nokey._domainkey.' + DKIM_DOMAIN
        r = deliver(self.d, self.signed(selector='nokey'))
        self.assertEqual(r.code, 250, r)
        ar = self.stored_ar()
        self.assertNotIn('dkim=pass', ar)
        self.assertIn('dkim=fail', ar)
        self.assertIn('key not found in DNS', ar)
        self.assertIn('header.s=nokey', ar)
        self.assertGreaterEqual(self.dns.count(name), 1)


# rspamd's own configuration (/etc/rspamd/rspamd.conf) with a private
# LOCAL_CONFDIR: override.d/ and local.d/ below set the proxy worker as a
# milter on a loopback port scanning by itself, no other worker, DNS to a
# closed loopback port, a four-line public suffix list (the full one
# takes rspamd many seconds to compile), and the milter_headers module.
RSPAMD_FILES = {
    'override.d/worker-proxy.inc':
        'bind_socket = "127.0.0.1:%(port)d";\nmilter = yes;\ntimeout = 30s;\n'
        'upstream "local" { default = yes; self_scan = yes; }\ncount = 1;\n',
    'override.d/worker-normal.inc': 'enabled = false;\n',
    'override.d/worker-controller.inc': 'enabled = false;\n',
    'override.d/options.inc':
        'dns { nameserver = ["127.0.0.1:1"]; timeout = 1s; retransmits = 1; }\n'
        'url_tld = "%(tmp)s/tld.dat";\n',
    'override.d/logging.inc':
        'type = "file";\nfilename = "%(tmp)s/rspamd.log";\nlevel = "info";\n',
    'local.d/milter_headers.conf':
        'use = ["x-spamd-result", "x-rspamd-server", "x-spam-status"];\n'
        'skip_local = false;\nskip_authenticated = false;\n',
    'local.d/rbl.conf': 'enabled = false;\n',
    'tld.dat': 'com\norg\nnet\ntest\n',
}


class TestRspamd(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        need(RSPAMD)
        cls.tmp = tempfile.mkdtemp(prefix='smtpd-rspamd-')
        cls.port = free_port()
        for d in ('db', 'local.d', 'override.d'):
            os.mkdir(os.path.join(cls.tmp, d))
        for name, text in RSPAMD_FILES.items():
            with open(os.path.join(cls.tmp, name), 'w') as f:
                f.write(text % {'tmp': cls.tmp, 'port': cls.port})
        cls.log = os.path.join(cls.tmp, 'rspamd.log')
        cls.errf = open(os.path.join(cls.tmp, 'stderr'), 'wb')
        t = cls.tmp
        # As whoever runs the tests (-i: root too).
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        cls.proc = subprocess.Popen([RSPAMD, '-f', '-i', '-u', user, '-g', group,
                                     '-c', '/etc/rspamd/rspamd.conf',
                                     '--var', 'LOCAL_CONFDIR=' + t, '--var', 'DBDIR=%s/db' % t,
                                     '--var', 'RUNDIR=' + t, '--var', 'LOGDIR=' + t],
                                    stdout=cls.errf, stderr=cls.errf,
                                    stdin=subprocess.DEVNULL)
        try:
            wait_for(lambda: port_open(cls.port), START, 'rspamd', cls.proc, cls.log)
            cls.d = Daemon(['milter inet:127.0.0.1:%d' % cls.port, 'milter_timeout 30'])
            cls.d.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        stop(cls.proc)
        cls.errf.close()
        d = getattr(cls, 'd', None)
        if d is not None:
            try:
                d.stop_and_check()
            finally:
                d.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.d.clear_spool()

    def test_gtube_refused_with_rspamd_text(self):
        msg = (b'From: a@sender.test\r\nTo: user@example.org\r\nSubject: gtube\r\n'
               b'Message-ID: <g@sender.test>\r\n\r\n'
               b'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n')
        r = deliver(self.d, msg)
        self.assertEqual(r.code // 100, 5, r)
        self.assertIn('Gtube pattern', r.text)
        self.assertEqual(all_new_files(self.d.spool), {})

    def test_plain_message_gets_rspamd_headers(self):
        msg = (b'From: a@sender.test\r\nTo: user@example.org\r\nSubject: hello\r\n'
               b'Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n'
               b'Message-ID: <p@sender.test>\r\n\r\nJust a friendly note.\r\n')
        r = deliver(self.d, msg)
        self.assertEqual(r.code, 250, r)
        files = list(all_new_files(self.d.spool).values())
        self.assertEqual(len(files), 1)
        head = split_trace(files[0])[2].partition(b'\n\n')[0]
        self.assertIn(b'\nX-Spamd-Result: default: False', b'\n' + head)
        self.assertIn(b'\nX-Rspamd-Server: ', b'\n' + head)


if __name__ == '__main__':
    unittest.main()
