"""
test_admin_defects.py - regressions for defects in configuration loading,
reloading, the listener and socket activation: each test failed on the
code before its fix.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (SANITIZER_RE, Daemon, DaemonTestCase, RawClient, REPO_ROOT,
                     body_of, free_port, read_new, require_bin, run_smtpd)

WAIT = 5.0      # seconds for anything the daemon does by itself


def wait_for(pred, timeout=WAIT, step=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def long_relative_template():
    """A relative maildir template the parser takes (its line is 1024
    characters, the longest allowed) but that no longer fits the 1023
    characters of a template once the start-up directory is put before it."""
    tail = '/%d/%u'
    rel = ('r' * 99 + '/') * 11
    rel = rel[:1016 - len(tail)] + tail
    assert len('maildir ' + rel) == 1024 and len(REPO_ROOT) + 1 + len(rel) > 1023
    return rel


class ConfigFile(unittest.TestCase):
    """A configuration file in a private directory, checked with -n."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='smtpd-defect-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, lines, name='smtpd.conf'):
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def base(self):
        return ['listen 127.0.0.1:%d' % free_port(), 'hostname mx.test',
                'domain example.org', 'maildir %s/spool/%%d/%%u' % self.tmp]

    def check(self, lines):
        """(path, exit status, stderr) of smtpd -n on lines."""
        path = self.write(lines)
        p = run_smtpd(['-n', '-f', path])
        return path, p.returncode, p.stderr.decode('utf-8', 'replace')


class MaxRecipientsBound(ConfigFile):
    """Each recipient's copy is an open file during DATA: the configuration
    accepts only what works end to end (test_limits runs 1000)."""

    def test_1001_refused_naming_file_line_and_range(self):
        path, rc, err = self.check(self.base() + ['max_recipients 1001'])
        self.assertEqual(rc, 1, err)
        self.assertIn('%s:5:' % path, err)
        self.assertIn('1..1000', err)

    def test_1000_accepted(self):
        path, rc, err = self.check(self.base() + ['max_recipients 1000'])
        self.assertEqual(rc, 0, err)


class RelativeTemplateTooLong(ConfigFile):
    """It passed -n and then killed the daemon at SIGHUP (fatalx while
    making the template absolute): now -n and the reload refuse it."""

    def test_check_refuses_naming_file_and_line(self):
        path, rc, err = self.check(self.base()[:3] + ['maildir ' + long_relative_template(),
                                                      'timeout 60'])
        self.assertEqual(rc, 1, err)
        self.assertIn('%s:4: maildir: relative template too long' % path, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)

    def test_short_relative_template_is_fine(self):
        path, rc, err = self.check(self.base()[:3] + ['maildir spool/%d/%u'])
        self.assertEqual(rc, 0, err)


class Reload(DaemonTestCase):
    """SIGHUP with a configuration that cannot be used keeps the one in
    force, keeps the daemon and its sessions running, and says why."""
    shared_daemon = False

    def set_maildir(self, d, value):
        """Replace the maildir line of d's config; its line number."""
        with open(d.conf) as f:
            lines = f.read().splitlines()
        n = [i for i, l in enumerate(lines) if l.startswith('maildir ')][0]
        lines[n] = 'maildir ' + value
        with open(d.conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return n + 1

    def reload(self, d, expect):
        """SIGHUP, then wait for a log line containing expect."""
        before = d.stderr(1 << 20)
        d.proc.send_signal(signal.SIGHUP)
        ok = wait_for(lambda: expect in d.stderr(1 << 20)[len(before):] or not d.alive())
        self.assertTrue(d.alive(), 'smtpd died at SIGHUP:\n' + d.stderr())
        self.assertTrue(ok, 'no %r logged after SIGHUP:\n%s' % (expect, d.stderr()))
        return d.stderr(1 << 20)[len(before):]

    def in_flight(self, d):
        """A session in the middle of a transaction."""
        c = RawClient(d.port)
        self.addCleanup(c.close)
        c.ehlo()
        self.assertEqual(c.cmd('MAIL FROM:<a@x.test>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<alice@example.org>').code, 250)
        return c

    def finish(self, c, text):
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(text.encode() + b'\r\n.\r\n')
        c.expect(250)

    def deliver(self, d, rcpt, text):
        c = RawClient(d.port)
        self.addCleanup(c.close)
        c.ehlo()
        self.assertEqual(c.cmd('MAIL FROM:<a@x.test>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<%s@example.org>' % rcpt).code, 250)
        self.finish(c, text)
        c.cmd('QUIT')

    def test_template_too_long_once_absolute(self):
        d = self.start_daemon()
        c = self.in_flight(d)
        n = self.set_maildir(d, long_relative_template())
        log = self.reload(d, 'reload failed')
        self.assertIn('reload: %s:%d: maildir: relative template too long' % (d.conf, n), log)
        # The old configuration still serves the session in flight and new ones.
        self.finish(c, 'in flight')
        self.deliver(d, 'bob', 'after the reload')
        self.assertEqual([body_of(m) for m in read_new(d.maildir_path('alice'))],
                         [b'in flight\n'])
        self.assertEqual([body_of(m) for m in read_new(d.maildir_path('bob'))],
                         [b'after the reload\n'])
        # smtpd -n says the same of the file.
        p = run_smtpd(['-n', '-f', d.conf])
        self.assertEqual(p.returncode, 1)
        self.assertIn('%s:%d:' % (d.conf, n), p.stderr.decode())

    def test_spool_root_that_cannot_be_created(self):
        # A new spool root is created at SIGHUP; when that fails the
        # reload is refused rather than every delivery failing later.
        d = self.start_daemon()
        blocker = os.path.join(d.tmp, 'blocker')
        open(blocker, 'w').close()
        c = self.in_flight(d)
        self.set_maildir(d, blocker + '/spool/%d/%u')
        log = self.reload(d, 'reload failed')
        self.assertIn('cannot create spool %s/spool' % blocker, log)
        self.finish(c, 'in flight')
        self.deliver(d, 'bob', 'old spool')
        self.assertEqual(len(read_new(d.maildir_path('alice'))), 1)
        self.assertEqual([body_of(m) for m in read_new(d.maildir_path('bob'))],
                         [b'old spool\n'])

    def test_new_spool_root_created_at_reload(self):
        d = self.start_daemon()
        root = os.path.join(d.tmp, 'new', 'root')
        self.set_maildir(d, root + '/%d/%u')
        self.reload(d, 'reloaded ')
        self.assertTrue(os.path.isdir(root))
        self.deliver(d, 'carol', 'new spool')
        self.assertEqual([body_of(m) for m in read_new(os.path.join(root, 'example.org', 'carol'))],
                         [b'new spool\n'])


class RefusalDuringReloads(DaemonTestCase):
    """The 421 of a full daemon was built from a config that a SIGHUP at
    the same moment could free (the listener read it after letting go of
    its lock). Refusals under a stream of reloads: under ASan or TSan the
    code before the fix is caught reading freed memory."""
    shared_daemon = False
    SECONDS = 3.0

    def test_refusals_while_reloading(self):
        d = self.start_daemon(['max_clients 1'])
        held = RawClient(d.port)
        self.addCleanup(held.close)
        stop = threading.Event()
        reloads = [0]

        def hup():
            while not stop.is_set() and d.alive():
                d.proc.send_signal(signal.SIGHUP)
                reloads[0] += 1
                time.sleep(0.0005)

        t = threading.Thread(target=hup)
        t.start()
        refused = 0
        bad = []
        try:
            deadline = time.monotonic() + self.SECONDS
            while time.monotonic() < deadline and d.alive():
                s = socket.create_connection(('127.0.0.1', d.port), timeout=5)
                try:
                    data = b''
                    while not data.endswith(b'\n'):
                        chunk = s.recv(512)
                        if not chunk:
                            break
                        data += chunk
                finally:
                    s.close()
                if data.startswith(b'421 4.7.0 mx.test Too many connections'):
                    refused += 1
                elif data:
                    bad.append(data)
        finally:
            stop.set()
            t.join()
        self.assertTrue(d.alive(), 'smtpd died:\n' + d.stderr())
        self.assertFalse(SANITIZER_RE.search(d.stderr(1 << 22)), d.stderr())
        self.assertEqual(bad, [])
        self.assertGreater(refused, 100)
        self.assertGreater(reloads[0], 100)
        # The session held all along still has its config.
        self.assertEqual(held.cmd('NOOP').code, 250)


def greeting_after(port, header=b'', source=None):
    """Connect (from source), send header; (socket, first reply line)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=5,
                                 source_address=(source, 0) if source else None)
    if header:
        s.sendall(header)
    data = b''
    while not data.endswith(b'\n'):
        chunk = s.recv(512)
        if not chunk:
            break
        data += chunk
    return s, data


class PerClientLimitBehindProxy(DaemonTestCase):
    """max_clients_per_ip was off on proxy listeners: behind a balancer
    one client could hold every slot. It now counts the client the PROXY
    header names."""
    shared_daemon = False

    def header(self, client):
        return b'PROXY TCP4 %s 127.0.0.1 40000 25\r\n' % client.encode()

    def session(self, d, client):
        s, line = greeting_after(d.port, self.header(client))
        self.addCleanup(s.close)
        return s, line

    def test_real_client_counted(self):
        d = self.start_daemon(['proxy_from 127.0.0.1/32', 'max_clients_per_ip 3'],
                              listen=['127.0.0.1:{port} proxy'])
        held = []
        for _ in range(3):
            s, line = self.session(d, '192.0.2.7')
            self.assertTrue(line.startswith(b'220 '), line)
            held.append(s)
        s, line = self.session(d, '192.0.2.7')
        self.assertTrue(line.startswith(b'421 4.7.0 mx.test Too many connections '
                                        b'from your address'), line)
        self.assertEqual(s.recv(512), b'')           # closed
        s, line = self.session(d, '192.0.2.8')
        self.assertTrue(line.startswith(b'220 '), line)
        # Health checks (no client address) and the balancer itself, which
        # has made 6 connections by now, are not counted.
        for _ in range(4):
            s, line = greeting_after(d.port, b'PROXY UNKNOWN\r\n')
            self.addCleanup(s.close)
            self.assertTrue(line.startswith(b'220 '), line)
        # Closing one of 192.0.2.7's sessions frees a slot.
        held[0].sendall(b'QUIT\r\n')
        held[0].recv(512)
        deadline = time.monotonic() + 3
        while True:
            s, line = self.session(d, '192.0.2.7')
            if line.startswith(b'220 ') or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertTrue(line.startswith(b'220 '), line)
        self.assertIn('refused connection: max_clients_per_ip 3 reached', d.stderr(1 << 20))


class DefaultPerClientLimit(DaemonTestCase):
    """The default was no per-client limit: idle sockets from one address
    could take all max_clients (1000) slots. It is 50 now."""
    shared_daemon = False

    def test_51st_connection_from_one_address_refused(self):
        d = self.start_daemon()
        with open(d.conf) as f:
            self.assertNotIn('max_clients_per_ip', f.read())
        for i in range(50):
            s, line = greeting_after(d.port)
            self.addCleanup(s.close)
            self.assertTrue(line.startswith(b'220 '), (i, line))
        s, line = greeting_after(d.port)
        self.addCleanup(s.close)
        self.assertTrue(line.startswith(b'421 4.7.0 '), line)
        self.assertIn(b'Too many connections from your address', line)
        s, line = greeting_after(d.port, source='127.0.0.2')
        self.addCleanup(s.close)
        self.assertTrue(line.startswith(b'220 '), line)


class SocketActivationWithoutListen(unittest.TestCase):
    """With a socket inherited through LISTEN_FDS (LISTEN_PID = its pid),
    smtpd refused a configuration without a listen line, which it would
    not have bound anyway."""

    def activated(self, d):
        """Start smtpd on d's config as systemd would: a bound listening
        socket at fd 3, LISTEN_FDS=1 and LISTEN_PID set in the child.
        Returns the socket's port."""
        binary = require_bin()
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(lsock.close)
        lsock.bind(('127.0.0.1', 0))
        lsock.listen(16)
        port = lsock.getsockname()[1]
        fd = lsock.fileno()

        def child():
            # After the fork, before exec: fd 3 is the socket (pass_fds
            # keeps it open), the environment names this process.
            if fd != 3:
                os.dup2(fd, 3)
            os.environ['LISTEN_PID'] = str(os.getpid())
            os.environ['LISTEN_FDS'] = '1'

        d._err = open(d.errlog, 'wb')
        d.proc = subprocess.Popen([binary, '-d', '-f', d.conf], preexec_fn=child,
                                  pass_fds=(3,), stdin=subprocess.DEVNULL,
                                  stdout=d._err, stderr=d._err, cwd=REPO_ROOT)
        lsock.close()       # only smtpd holds it now
        started = wait_for(lambda: 'listening on' in d.stderr() or not d.alive())
        self.assertTrue(d.alive(), 'smtpd exited at start:\n' + d.stderr())
        self.assertTrue(started, 'no start-up line:\n' + d.stderr())
        self.assertIn('listening on 127.0.0.1:%d (inherited)' % port, d.stderr())
        return port

    def deliver(self, port, rcpt, text):
        c = RawClient(port)
        self.addCleanup(c.close)
        c.ehlo()
        self.assertEqual(c.cmd('MAIL FROM:<a@x.test>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<%s@example.org>' % rcpt).code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(text.encode() + b'\r\n.\r\n')
        c.expect(250)
        c.cmd('QUIT')

    def test_no_listen_line(self):
        d = Daemon(['hostname mx.test', 'domain example.org', 'maildir {tmp}/spool/%d/%u'],
                   base=False)
        self.addCleanup(d.cleanup)
        with open(d.conf) as f:
            self.assertNotIn('listen', f.read())
        port = self.activated(d)
        self.deliver(port, 'alice', 'via an inherited socket')
        self.assertEqual([body_of(m) for m in read_new(d.maildir_path('alice'))],
                         [b'via an inherited socket\n'])
        # A reload of the same file keeps the inherited socket.
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: 'reloaded ' in d.stderr()), d.stderr())
        self.assertNotIn('reload failed', d.stderr())
        self.deliver(port, 'bob', 'after a reload')
        self.assertEqual(len(read_new(d.maildir_path('bob'))), 1)
        d.stop_and_check()

    def test_listen_line_needed_without_inherited_socket(self):
        d = Daemon(['domain example.org', 'maildir {tmp}/spool/%d/%u'], base=False)
        self.addCleanup(d.cleanup)
        p = run_smtpd(['-n', '-f', d.conf])
        self.assertEqual(p.returncode, 1)
        self.assertIn('%s:2: no listen line' % d.conf, p.stderr.decode())
        p = run_smtpd(['-d', '-f', d.conf])
        self.assertEqual(p.returncode, 1)
        self.assertIn('%s:2: no listen line' % d.conf, p.stderr.decode())


if __name__ == '__main__':
    unittest.main()
