"""Real policy servers from Debian behind policy_server: postgrey
(greylisting) and postfix-policyd-spf-python (SPF), each privately
configured; smtpd talks to them over a unix socket and loopback TCP."""

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import DOMAIN, Daemon, RawClient, free_port, read_new

HERE = os.path.dirname(os.path.abspath(__file__))
POSTGREY = '/usr/sbin/postgrey'
POLICYD_SPF = '/usr/bin/policyd-spf'


def require(path):
    if not os.access(path, os.X_OK):
        raise AssertionError('%s is missing (install it: see .ci/run)' % path)


class Postgrey(unittest.TestCase):
    """postgrey --delay=2 with empty whitelists, as the current user."""

    def setUp(self):
        require(POSTGREY)
        self.tmp = tempfile.mkdtemp(prefix='smtpd-postgrey-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        # Our own (empty) whitelists: Debian's whitelist_clients and the
        # .local files must not decide for loopback.
        for name in ('wl_clients', 'wl_recipients'):
            open(os.path.join(self.tmp, name), 'w').close()

    def start_postgrey(self, listen_arg):
        args = [POSTGREY, listen_arg, '--delay=2', '--dbdir=' + self.tmp,
                '--whitelist-clients=' + os.path.join(self.tmp, 'wl_clients'),
                '--whitelist-recipients=' + os.path.join(self.tmp, 'wl_recipients'),
                '--user=' + pwd.getpwuid(os.getuid()).pw_name,
                '--group=' + grp.getgrgid(os.getgid()).gr_name,
                '--auto-whitelist-clients=0', '-v']
        log = open(os.path.join(self.tmp, 'postgrey.log'), 'wb')
        self.addCleanup(log.close)
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)

        def stop():
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.addCleanup(stop)
        return proc

    def wait_ready(self, proc, ready):
        deadline = time.monotonic() + 15
        while not ready():
            if proc.poll() is not None:
                self.fail('postgrey exited with %s: %s' % (proc.returncode, self.postgrey_log()))
            if time.monotonic() > deadline:
                self.fail('postgrey did not start: ' + self.postgrey_log())
            time.sleep(0.05)

    def postgrey_log(self):
        with open(os.path.join(self.tmp, 'postgrey.log'), 'rb') as f:
            return f.read().decode('utf-8', 'replace')[-3000:]

    def daemon(self, spec):
        d = Daemon(['policy_server ' + spec, 'policy_timeout 10'])
        self.addCleanup(d.cleanup)
        d.start()
        self.addCleanup(d.stop_and_check)
        return d

    def attempt(self, d, rcpt):
        """One delivery attempt: the RCPT reply, and the DATA reply when
        the RCPT was accepted."""
        c = RawClient(d.port, timeout=20)
        self.addCleanup(c.close)
        c.ehlo()
        c.send('MAIL FROM:<sender@remote.test>\r\n')
        c.expect(250)
        c.send('RCPT TO:<%s>\r\n' % rcpt)
        r = c.read_reply()
        if r.code != 250:
            c.send('QUIT\r\n')
            return r, None
        c.send('DATA\r\n')
        c.expect(354)
        c.send('Subject: greylisted\r\n\r\nbody\r\n.\r\n')
        return r, c.read_reply()

    def greylist_then_accept(self, d, local):
        rcpt = '%s@%s' % (local, DOMAIN)
        r, _ = self.attempt(d, rcpt)
        # DEFER_IF_PERMIT with postgrey's own enhanced code (4.2.0).
        self.assertEqual(r.code, 450, r)
        self.assertTrue(r.enhanced.startswith('4.'), r)
        self.assertIn('Greylisted', r.text)
        self.assertEqual(read_new(d.maildir_path(local)), [])
        # Retry as a sending MTA would, until the delay (2 s) has passed.
        deadline = time.monotonic() + 20
        while True:
            time.sleep(0.5)
            r, data = self.attempt(d, rcpt)
            if r.code == 250 or time.monotonic() > deadline:
                break
            self.assertEqual(r.code, 450, r)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(data.code, 250, data)
        (raw,) = read_new(d.maildir_path(local))
        # postgrey's PREPEND, above our Received:
        lines = raw.split(b'\n')
        self.assertTrue(lines[2].startswith(b'X-Greylist: delayed '), raw)
        self.assertTrue(lines[3].startswith(b'Received: '), raw)
        log = d.stderr(100000)
        self.assertIn('action=DEFER_IF_PERMIT', log)
        self.assertIn('action=PREPEND text="X-Greylist: delayed', log)

    def test_inet(self):
        port = free_port()
        proc = self.start_postgrey('--inet=127.0.0.1:%d' % port)

        def listening():
            import socket
            try:
                socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
                return True
            except OSError:
                return False
        self.wait_ready(proc, listening)
        d = self.daemon('inet:127.0.0.1:%d' % port)
        self.greylist_then_accept(d, 'grey-inet')

    def test_unix(self):
        path = os.path.join(self.tmp, 'postgrey.sock')
        proc = self.start_postgrey('--unix=' + path)
        self.wait_ready(proc, lambda: os.path.exists(path))
        d = self.daemon('unix:' + path)
        self.greylist_then_accept(d, 'grey-unix')


class PolicydSpf(unittest.TestCase):
    """policyd-spf (run per connection by socat) in a private network
    namespace whose resolv.conf names dnsserver.py on 127.0.0.1:53:
    see spf_netns.py."""

    def test_pass_fail_none(self):
        for p in (POLICYD_SPF, '/usr/bin/socat', '/usr/bin/unshare'):
            require(p)
        cmd = ['unshare', '--net', '--mount', '--']
        if os.geteuid() != 0:
            cmd = ['unshare', '--map-root-user', '--net', '--mount', '--']
        cmd += [sys.executable, os.path.join(HERE, 'spf_netns.py'),
                'a@pass.test', 'b@fail.test', 'c@none.test']
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode('utf-8', 'replace')[-3000:])
        out = json.loads(p.stdout)
        self.assertEqual(out['smtpd_exit'], 0, out['log'][-3000:])
        res = {r['sender']: r for r in out['results']}

        ok = res['a@pass.test']
        self.assertEqual((ok['rcpt_code'], ok['data_code']), (250, 250), out['log'])
        (raw,) = ok['stored']
        lines = raw.split('\n')
        self.assertTrue(lines[2].startswith('Received-SPF: Pass (mailfrom)'), raw)
        self.assertIn('client-ip=127.0.0.1', lines[2])
        self.assertTrue(lines[3].startswith('Received: from client.test'), raw)

        bad = res['b@fail.test']
        self.assertEqual(bad['rcpt_code'], 550, bad)
        self.assertTrue(bad['rcpt_text'].startswith('5.7.23 '), bad)
        self.assertIn('SPF fail', bad['rcpt_text'])
        self.assertEqual(bad['stored'], [])

        none = res['c@none.test']
        self.assertEqual((none['rcpt_code'], none['data_code']), (250, 250))
        (raw,) = none['stored']
        self.assertTrue(raw.split('\n')[2].startswith('Received-SPF: None (mailfrom)'), raw)
        self.assertIn('action=REJECT code=5xx esc=5.7.23', out['log'])


if __name__ == '__main__':
    unittest.main()
