"""
test_nginx_starttls.py - etc/nginx-smtp-starttls.conf, run by the real
nginx (Debian's, with libnginx-mod-mail): clients deliver through it
with and without STARTTLS (swaks), and smtpd, told the real client by
nginx's XCLIENT, stores it in Received: and logs it.

The clients bind 127.0.0.2 and up; nginx listens on 127.0.0.1 and
connects to smtpd from 127.0.0.1: a Received: naming 127.0.0.2 can only
come from XCLIENT. The very file shipped is used, with its ports and
paths replaced (each replacement must match exactly once, so a change
to the file that the test no longer follows fails here).

What nginx 1.22 sends smtpd (with smtp_auth none, after the client's
first RCPT TO): "EHLO <server_name>", "XCLIENT ADDR=<client>
NAME=[UNAVAILABLE]" (NAME is the client's name with a resolver), then
the client's own "EHLO name" (or HELO), MAIL FROM and RCPT TO.
"""

import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import REPO_ROOT, DaemonTestCase, _listening, free_port, split_trace

CONF = os.path.join(REPO_ROOT, 'etc', 'nginx-smtp-starttls.conf')
NGINX = shutil.which('nginx') or '/usr/sbin/nginx'
START_TIMEOUT = 10.0


def substitute(text, replacements):
    """text with each (pattern, replacement) applied; every pattern must
    match exactly once."""
    for pattern, repl in replacements:
        text, n = re.subn(pattern, lambda m: repl, text, flags=re.M)
        if n != 1:
            raise AssertionError('%s: %r matched %d times, expected once'
                                 % (CONF, pattern, n))
    return text


class NginxStarttls(DaemonTestCase):
    extra_config = ['xclient_from 127.0.0.1/32']

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nginx = None
        cls.ntmp = tempfile.mkdtemp(prefix='smtpd-nginx-')
        try:
            cls.start_nginx()
        except BaseException:
            cls.stop_nginx()
            super().tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stop_nginx()
        finally:
            super().tearDownClass()

    @classmethod
    def start_nginx(cls):
        t = cls.ntmp
        for prog in (NGINX, shutil.which('openssl'), shutil.which('swaks')):
            if prog is None or not os.access(prog, os.X_OK):
                raise AssertionError('nginx, openssl and swaks are needed '
                                     '(apt-get install nginx libnginx-mod-mail openssl swaks)')
        cert, key = os.path.join(t, 'cert.pem'), os.path.join(t, 'key.pem')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                        '-keyout', key, '-out', cert, '-days', '2',
                        '-subj', '/CN=mx.example.org'],
                       check=True, timeout=60, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        cls.smtp_port = free_port()
        cls.auth_port = free_port()
        if os.getuid() == 0:
            # Workers give up root; nobody's own group, whatever its name.
            nobody = pwd.getpwnam('nobody')
            user = 'user nobody %s;' % grp.getgrgid(nobody.pw_gid).gr_name
        else:
            user = '# user: not root, nginx keeps ours'
        temp = ''.join('\t%s_temp_path %s;\n' % (k, os.path.join(t, k))
                       for k in ('client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'))
        with open(CONF) as f:
            text = f.read()
        text = substitute(text, [
            (r'^user .*;$', user),
            (r'^pid .*;$', 'pid %s;' % os.path.join(t, 'nginx.pid')),
            (r'^error_log .*;$', 'error_log %s info;' % os.path.join(t, 'error.log')),
            (r'^http \{\n', 'http {\n' + temp),
            (r'listen 127\.0\.0\.1:8025;', 'listen 127.0.0.1:%d;' % cls.auth_port),
            (r'auth_http 127\.0\.0\.1:8025/', 'auth_http 127.0.0.1:%d/' % cls.auth_port),
            (r'Auth-Port 2525;', 'Auth-Port %d;' % cls.daemon.port),
            (r'listen 25;', 'listen 127.0.0.1:%d;' % cls.smtp_port),
            (r'ssl_certificate /\S+;', 'ssl_certificate %s;' % cert),
            (r'ssl_certificate_key /\S+;', 'ssl_certificate_key %s;' % key),
        ])
        cls.nconf = os.path.join(t, 'nginx.conf')
        with open(cls.nconf, 'w') as f:
            f.write(text)
        cls.nout = open(os.path.join(t, 'nginx.out'), 'wb')
        cls.nginx = subprocess.Popen([NGINX, '-p', t, '-c', cls.nconf, '-g', 'daemon off;'],
                                     stdin=subprocess.DEVNULL, stdout=cls.nout,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not (_listening(cls.smtp_port) and _listening(cls.auth_port)):
            if cls.nginx.poll() is not None or time.monotonic() > deadline:
                raise AssertionError('nginx did not start:\n' + cls.nginx_log())
            time.sleep(0.05)

    @classmethod
    def nginx_log(cls):
        out = []
        for name in ('nginx.out', 'error.log'):
            try:
                with open(os.path.join(cls.ntmp, name), 'rb') as f:
                    out.append(f.read()[-3000:].decode('utf-8', 'replace'))
            except OSError:
                pass
        return '\n'.join(out)

    @classmethod
    def stop_nginx(cls):
        p = cls.nginx
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)      # fast shutdown, master and workers
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if getattr(cls, 'nout', None) is not None:
            cls.nout.close()
        shutil.rmtree(cls.ntmp, ignore_errors=True)

    def swaks(self, source, *args, server_port=None):
        """swaks from the source address; (exit status, transcript)."""
        cmd = ['swaks', '--server', '127.0.0.1:%d' % (server_port or self.smtp_port),
               '--local-interface', source, '--from', 'sender@x.test',
               '--timeout', '20'] + list(args)
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        return r.returncode, r.stdout.decode('utf-8', 'replace')

    def received(self, rcpt):
        msgs = self.messages(rcpt)
        self.assertEqual(len(msgs), 1, 'spool: %r' % sorted(self.all_messages()))
        return split_trace(msgs[0])[1]

    def wait_log(self, text, timeout=5.0):
        deadline = time.monotonic() + timeout
        while text not in self.daemon.stderr(1000000):
            if time.monotonic() > deadline:
                self.fail('smtpd never logged %r:\n%s' % (text, self.daemon.stderr()))
            time.sleep(0.02)

    def test_starttls_names_the_real_client(self):
        rc, out = self.swaks('127.0.0.2', '--tls', '--helo', 'tls.client.test',
                             '--to', 'tls@example.org', '--body', 'over TLS')
        self.assertEqual(rc, 0, out + self.nginx_log())
        self.assertIn('TLS started', out)
        received = self.received('tls')
        self.assertTrue(received.startswith(
            'Received: from tls.client.test ([127.0.0.2]) by mx.test (smtpd) with ESMTP '),
            received)
        self.assertNotIn('127.0.0.1', received)
        self.wait_log('xclient client=[127.0.0.2] port=0 name=- helo=- proto=- login=- '
                      'destaddr=- destport=-1 proxy=[127.0.0.1]')
        self.wait_log('client=[127.0.0.2] helo="tls.client.test" from="<sender@x.test>" '
                      'nrcpt=1 ncopy=1')
        self.wait_log('to="<tls@example.org>" orig_to="<tls@example.org>" status=stored')
        self.wait_log('disconnect client=[127.0.0.2] helo="tls.client.test" messages=1')

    def test_plain_smtp_through_nginx(self):
        rc, out = self.swaks('127.0.0.3', '--helo', 'plain.client.test',
                             '--to', 'plain@example.org')
        self.assertEqual(rc, 0, out)
        self.assertIn('Received: from plain.client.test ([127.0.0.3]) by mx.test (smtpd) '
                      'with ESMTP ', self.received('plain'))

    def test_helo_client(self):
        # nginx passes HELO on as HELO: the Received: protocol is SMTP.
        rc, out = self.swaks('127.0.0.4', '--protocol', 'SMTP', '--helo', 'old.client.test',
                             '--to', 'old@example.org')
        self.assertEqual(rc, 0, out)
        self.assertIn('Received: from old.client.test ([127.0.0.4]) by mx.test (smtpd) '
                      'with SMTP ', self.received('old'))

    def test_pipelining_client(self):
        # The file announces PIPELINING for smtpd: a client that uses it
        # (MAIL, RCPT, DATA in one write, inside TLS) is served.
        rc, out = self.swaks('127.0.0.7', '--tls', '--pipeline', '--helo', 'pipe.client.test',
                             '--to', 'pipe@example.org,pipe2@example.org')
        self.assertEqual(rc, 0, out + self.nginx_log())
        self.assertIn('Received: from pipe.client.test ([127.0.0.7])', self.received('pipe'))
        self.assertIn('Received: from pipe.client.test ([127.0.0.7])', self.received('pipe2'))

    def test_refusal_reaches_the_client(self):
        # smtpd's 550 for a foreign domain, passed back (proxy_pass_error_message).
        rc, out = self.swaks('127.0.0.5', '--tls', '--to', 'someone@elsewhere.test')
        self.assertNotEqual(rc, 0, out)
        self.assertIn('550 5.7.1', out)
        self.assertEqual(self.all_messages(), {})
        self.wait_log('client=[127.0.0.5] reject code=550 5.7.1')

    def test_without_xclient_from_everything_is_refused(self):
        # nginx sends XCLIENT whether smtpd announces it or not: with no
        # xclient_from line naming nginx, every message is refused (550
        # 5.7.0), nothing is stored, as the README says. The config is
        # reloaded without the line, then restored.
        with open(self.daemon.conf) as f:
            conf = f.read()
        self.addCleanup(self.reload, conf)
        self.reload(conf.replace('xclient_from 127.0.0.1/32\n', ''))
        rc, out = self.swaks('127.0.0.8', '--tls', '--to', 'noxclient@example.org')
        self.assertNotEqual(rc, 0, out)
        self.assertIn('550 5.7.0', out)
        self.assertEqual(self.all_messages(), {})
        self.wait_log('client=[127.0.0.1] reject code=550 5.7.0')

    def reload(self, conf):
        with open(self.daemon.conf, 'w') as f:
            f.write(conf)
        n = self.daemon.stderr(1000000).count('reloaded')
        self.daemon.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while self.daemon.stderr(1000000).count('reloaded') <= n:
            if time.monotonic() > deadline:
                self.fail('no reload:\n' + self.daemon.stderr())
            time.sleep(0.02)

    def test_smtpd_alone_offers_no_starttls(self):
        # Why nginx is there: smtpd itself terminates no TLS.
        rc, out = self.swaks('127.0.0.6', '--tls', '--to', 'x@example.org',
                             server_port=self.daemon.port)
        self.assertNotEqual(rc, 0, out)
        self.assertIn('Host did not advertise STARTTLS', out)
        self.assertEqual(self.all_messages(), {})


if __name__ == '__main__':
    unittest.main()
