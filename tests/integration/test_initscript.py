"""
test_initscript.py - what make install installs, run from where it was
installed: `make install PREFIX=/usr SYSCONFDIR=/etc DESTDIR=...` leaves
no /usr/local path in any installed file, and the installed init script
(etc/smtpd.init as $(SYSCONFDIR)/init.d/smtpd) starts, reports, reloads,
restarts and stops the installed smtpd.

The init script's daemon logs through syslog: the commands run in a
private mount namespace whose /dev/log is this test's socket, which needs
root (CI runs as root); the install checks run for everyone.
"""

import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (DEVLOG_NAMESPACE_SH, DOMAIN, HELO, REPO_ROOT, RawClient,
                     TEST_USER, _listening, free_port, make_test_user, read_new)

WAIT = 10.0
PR_SET_CHILD_SUBREAPER = 36

# /dev with the test's datagram socket as "log" (harness), then the
# command.
NAMESPACE_SH = DEVLOG_NAMESPACE_SH + 'exec "$@"\n'


def wait_for(cond, timeout=WAIT, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def run_make(args, cwd, timeout=300):
    env = {k: v for k, v in os.environ.items()
           if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'SANITIZE')}
    return subprocess.run(['make', '-s'] + list(args), cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout)


def gone(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
    except OSError:
        return True


class Installed(unittest.TestCase):
    """One make install PREFIX=/usr SYSCONFDIR=/etc into a DESTDIR,
    built from a copy of the tree."""

    @classmethod
    def setUpClass(cls):
        if shutil.which('make') is None:
            raise AssertionError('make not installed')
        cls.top = tempfile.mkdtemp(prefix='smtpd-initd-')
        os.chmod(cls.top, 0o755)
        cls.dest = os.path.join(cls.top, 'dest')
        tree = os.path.join(cls.top, 'tree')
        os.mkdir(tree)
        for name in ('Makefile', 'src', 'include', 'man', 'etc'):
            src = os.path.join(REPO_ROOT, name)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(tree, name))
            else:
                shutil.copy(src, tree)
        r = run_make(['-j2', 'install', 'PREFIX=/usr', 'SYSCONFDIR=/etc',
                      'DESTDIR=' + cls.dest, 'CFLAGS=-O0'], tree)
        if r.returncode != 0:
            shutil.rmtree(cls.top, True)
            raise AssertionError('make install failed:\n'
                                 + r.stdout.decode('utf-8', 'replace'))
        shutil.rmtree(tree, True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.top, True)

    def path(self, p):
        return os.path.join(self.dest, p.lstrip('/'))

    def read(self, p):
        with open(self.path(p), encoding='utf-8') as f:
            return f.read()

    # -- the installed files name the installed paths --------------------

    def test_no_usr_local_anywhere(self):
        found = []
        for dirpath, _, names in os.walk(self.dest):
            for n in names:
                p = os.path.join(dirpath, n)
                with open(p, 'rb') as f:
                    if b'/usr/local' in f.read():
                        found.append(os.path.relpath(p, self.dest))
        self.assertEqual(found, [], 'installed files still naming /usr/local')

    def test_paths_shown(self):
        for p in ('/usr/sbin/smtpd', '/etc/smtpd.conf', '/etc/init.d/smtpd',
                  '/usr/share/man/man8/smtpd.8', '/usr/share/man/man5/smtpd.conf.5',
                  '/usr/lib/systemd/system/smtpd.service',
                  '/usr/lib/systemd/system/smtpd.socket'):
            self.assertTrue(os.path.isfile(self.path(p)), p + ' not installed')
        self.assertTrue(os.access(self.path('/etc/init.d/smtpd'), os.X_OK))
        unit = self.read('/usr/lib/systemd/system/smtpd.service')
        self.assertIn('\nExecStart=/usr/sbin/smtpd -d -f /etc/smtpd.conf\n', unit)
        init = self.read('/etc/init.d/smtpd')
        self.assertIn('DAEMON=${DAEMON:-/usr/sbin/smtpd}', init)
        self.assertIn('CONF=${CONF:-/etc/smtpd.conf}', init)
        self.assertIn('SMTPD_DEFAULTS=${SMTPD_DEFAULTS:-/etc/default/smtpd}', init)
        man8 = self.read('/usr/share/man/man8/smtpd.8')
        self.assertIn('.Pa /etc/smtpd.conf .', man8)          # -f's default
        self.assertIn('.It Pa /etc/smtpd.conf\n', man8)      # FILES
        self.assertIn('.It Pa /usr/lib/systemd/system/smtpd.service\n', man8)
        self.assertIn('.It Pa /etc/init.d/smtpd\n', man8)
        man5 = self.read('/usr/share/man/man5/smtpd.conf.5')
        self.assertIn('.It Pa /etc/smtpd.conf\n', man5)
        # The binary's compiled-in default agrees.
        r = subprocess.run([self.path('/usr/sbin/smtpd'), '-h'], capture_output=True,
                           timeout=10)
        self.assertIn(b'(default /etc/smtpd.conf)', r.stdout)
        if shutil.which('mandoc'):
            r = subprocess.run(['mandoc', '-T', 'lint', '-W', 'warning',
                                self.path('/usr/share/man/man8/smtpd.8'),
                                self.path('/usr/share/man/man5/smtpd.conf.5')],
                               capture_output=True, timeout=30)
            self.assertEqual(r.stdout + r.stderr, b'')

    # -- the init script -------------------------------------------------

    def start_syslog(self, tmp):
        self.log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self.log.close)
        self.log.bind(os.path.join(tmp, 'devlog'))
        os.chmod(os.path.join(tmp, 'devlog'), 0o666)
        self.log.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.datagrams = []

    def wait_log(self, pattern, timeout=WAIT):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for dg in self.datagrams:
                if rx.search(dg):
                    return dg
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('no syslog line matching %r; got:\n%s' % (
                    pattern, '\n'.join(repr(d) for d in self.datagrams[-20:])))
            self.log.settimeout(min(left, 0.2))
            try:
                self.datagrams.append(self.log.recv(65536))
            except socket.timeout:
                pass

    def initd(self, env, *args):
        r = subprocess.run(['unshare', '-m', 'sh', '-c', NAMESPACE_SH, 'sh',
                            self.path('/etc/init.d/smtpd')] + list(args),
                           env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60)
        return r.returncode, (r.stdout + r.stderr).decode('utf-8', 'replace')

    def pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read())
        except (OSError, ValueError):
            return None

    def deliver(self, port, rcpt):
        c = RawClient(port)
        try:
            c.envelope(rcpts=(rcpt,))
            c.send('DATA\r\nvia the init script\r\n.\r\n')
            c.expect(354)
            c.expect(250)
            c.cmd('QUIT')
        finally:
            c.close()

    def kill_leftovers(self):
        p = self.pid()
        if p and not gone(p):
            os.kill(p, signal.SIGKILL)
            wait_for(lambda: gone(p), 2)
        # Reap what was re-parented to us (child subreaper).
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG) == (0, 0):
                    break
            except ChildProcessError:
                break

    def run_init_script(self, plain):
        if os.geteuid() != 0:
            self.skipTest('needs root: a private mount namespace for /dev/log, '
                          'and smtpd dropping privileges')
        for tool in ('unshare', 'mount', 'start-stop-daemon'):
            self.assertIsNotNone(shutil.which(tool), tool + ' not installed')
        pw = make_test_user()
        tmp = tempfile.mkdtemp(prefix='smtpd-initrun-')
        self.addCleanup(shutil.rmtree, tmp, True)
        os.chmod(tmp, 0o755)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
            self.addCleanup(libc.prctl, PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        self.start_syslog(tmp)
        port = free_port()
        conf = os.path.join(tmp, 'smtpd.conf')
        lines = ['listen 127.0.0.1:%d' % port, 'hostname mx.test', 'domain ' + DOMAIN,
                 'maildir %s/mail/%%d/%%u' % tmp, 'user ' + TEST_USER]
        with open(conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        os.mkdir(os.path.join(tmp, 'run'), 0o755)
        self.pidfile = os.path.join(tmp, 'run', 'smtpd.pid')
        self.addCleanup(self.kill_leftovers)
        env = {'PATH': os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin'),
               'T': tmp, 'DAEMON': self.path('/usr/sbin/smtpd'), 'CONF': conf,
               'PIDFILE': self.pidfile, 'SMTPD_DEFAULTS': os.path.join(tmp, 'none')}
        if plain:
            env['SMTPD_PLAIN_MESSAGES'] = '1'

        rc, out = self.initd(env, 'status')
        self.assertEqual(rc, 3, out)

        rc, out = self.initd(env, 'start')
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r'Starting SMTP receiver.*smtpd')
        # The daemon detached only once ready: the pid file is there.
        p1 = self.pid()
        self.assertIsNotNone(p1, out)
        self.assertFalse(gone(p1))
        self.assertEqual(os.stat('/proc/%d' % p1).st_uid, pw.pw_uid)
        self.assertEqual(os.readlink('/proc/%d/exe' % p1), self.path('/usr/sbin/smtpd'))
        self.assertTrue(_listening(port))
        self.wait_log(rb'smtpd\[%d\]: smtpd \S+ started, listening on 127\.0\.0\.1:%d'
                      % (p1, port))
        self.deliver(port, 'alice@' + DOMAIN)

        rc, out = self.initd(env, 'start')           # already running
        self.assertEqual(rc, 0, out)
        self.assertEqual(self.pid(), p1)

        rc, out = self.initd(env, 'status')
        self.assertEqual(rc, 0, out)
        self.assertIn('running (pid %d)' % p1, out)

        # reload: SIGHUP reaches it, the new domain is accepted.
        with open(conf, 'a') as f:
            f.write('domain second.test\n')
        rc, out = self.initd(env, 'reload')
        self.assertEqual(rc, 0, out)
        self.wait_log(rb'smtpd\[%d\]: reloaded %s' % (p1, re.escape(conf.encode())))
        self.assertEqual(self.pid(), p1)
        self.deliver(port, 'bob@second.test')

        # A broken configuration: reload and restart refuse, it keeps running.
        with open(conf, 'a') as f:
            f.write('no_such_directive 1\n')
        for cmd in ('reload', 'restart'):
            rc, out = self.initd(env, cmd)
            self.assertEqual(rc, 1, out)
            self.assertIn('no_such_directive', out)
            self.assertEqual(self.pid(), p1)
            self.assertFalse(gone(p1))
        with open(conf, 'w') as f:
            f.write('\n'.join(lines) + '\ndomain second.test\n')

        rc, out = self.initd(env, 'restart')
        self.assertEqual(rc, 0, out)
        p2 = self.pid()
        self.assertIsNotNone(p2, out)
        self.assertNotEqual(p2, p1)
        self.assertTrue(gone(p1), 'the old smtpd survived restart')
        self.wait_log(rb'smtpd\[%d\]: stopping on signal 15' % p1)
        self.wait_log(rb'smtpd\[%d\]: smtpd \S+ started' % p2)
        self.deliver(port, 'carol@' + DOMAIN)

        rc, out = self.initd(env, 'force-reload')
        self.assertEqual(rc, 0, out)
        self.wait_log(rb'smtpd\[%d\]: reloaded ' % p2)

        rc, out = self.initd(env, 'stop')
        self.assertEqual(rc, 0, out)
        self.assertTrue(gone(p2), 'smtpd still running after stop')
        self.assertFalse(os.path.exists(self.pidfile), 'pid file left after stop')
        self.assertFalse(_listening(port))
        self.wait_log(rb'smtpd\[%d\]: stopped' % p2)
        for dg in self.datagrams:
            self.assertNotIn(b'pid file', dg)

        rc, out = self.initd(env, 'status')
        self.assertEqual(rc, 3, out)
        self.assertIn('not running', out)
        rc, out = self.initd(env, 'stop')            # stopped already: fine
        self.assertEqual(rc, 0, out)
        rc, out = self.initd(env, 'reload')
        self.assertEqual(rc, 7, out)
        rc, out = self.initd(env, 'bogus')
        self.assertEqual(rc, 3, out)
        self.assertIn('usage:', out)

        for who, dom in (('alice', DOMAIN), ('bob', 'second.test'), ('carol', DOMAIN)):
            self.assertEqual(len(read_new(os.path.join(tmp, 'mail', dom, who))), 1, who)

    def test_init_script_lsb_functions(self):
        self.assertTrue(os.path.exists('/lib/lsb/init-functions'),
                        'lsb-base not installed')
        self.run_init_script(plain=False)

    def test_init_script_plain_messages(self):
        self.run_init_script(plain=True)


if __name__ == '__main__':
    unittest.main()
