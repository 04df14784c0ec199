"""Running smtpd as a service: make install/uninstall, the manual pages,
systemd socket activation, detaching with syslog logging, and the command
line options a service manager relies on.

Tests that need root (mount namespaces) skip when not root. The man pages
and unit files are part of the tree: a missing one is a failure.
"""

import ctypes
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from harness import (DEVLOG_NAMESPACE_SH, DOMAIN, HELO, Daemon, RawClient, REPO_ROOT, _listening,
                     read_new, require_bin, run_smtpd)

MAN8 = os.path.join(REPO_ROOT, 'man', 'smtpd.8')
MAN5 = os.path.join(REPO_ROOT, 'man', 'smtpd.conf.5')
SERVICE = os.path.join(REPO_ROOT, 'etc', 'smtpd.service')
SOCKET_UNIT = os.path.join(REPO_ROOT, 'etc', 'smtpd.socket')
SHIPPED_CONF = os.path.join(REPO_ROOT, 'etc', 'smtpd.conf')
CONFIG_C = os.path.join(REPO_ROOT, 'src', 'config.c')
MAIN_C = os.path.join(REPO_ROOT, 'src', 'main.c')
README = os.path.join(REPO_ROOT, 'README.md')

WAIT = 5.0      # seconds for anything the daemon should do by itself


def read_text(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        return f.read()


def wait_for(pred, timeout=WAIT, step=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(step)


def config_keywords():
    """Every directive keyword src/config.c accepts."""
    src = read_text(CONFIG_C)
    m = re.search(r'num_directives\[\]\s*=\s*\{(.*?)\n\};', src, re.S)
    if not m:
        raise AssertionError('num_directives table not found in src/config.c')
    nums = re.findall(r'\{\s*"([a-z_]+)"\s*,', m.group(1))
    kws = re.findall(r'strcmp\(kw,\s*"([a-z_]+)"\)', src)
    if len(nums) < 5 or len(kws) < 5:
        raise AssertionError('too few keywords extracted from src/config.c: %r %r'
                             % (nums, kws))
    return sorted(set(nums) | set(kws))


def getopt_letters():
    """The option letters of smtpd's getopt() string."""
    m = re.search(r'getopt\(\s*argc\s*,\s*argv\s*,\s*"([^"]+)"\s*\)', read_text(MAIN_C))
    if not m:
        raise AssertionError('getopt() call not found in src/main.c')
    return [c for c in m.group(1) if c != ':']


def run_make(args, timeout=120, cwd=REPO_ROOT):
    # A make check SANITIZE=... above us passes its variables down in
    # MAKEFLAGS; the install under test is a plain build.
    env = {k: v for k, v in os.environ.items()
           if k not in ('MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'SANITIZE')}
    return subprocess.run(['make', '-s'] + list(args), cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout)


def proc_state(pid):
    """The one-letter state of pid, or None if it no longer exists."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            data = f.read()
    except OSError:
        return None
    return data.rsplit(')', 1)[1].split()[0]


def gone(pid):
    return proc_state(pid) in (None, 'Z', 'X')


# ---------------------------------------------------------------------------
# 1. make install / uninstall
# ---------------------------------------------------------------------------

class Install(unittest.TestCase):
    """make install DESTDIR=... PREFIX=/usr, re-install, uninstall."""

    def setUp(self):
        if shutil.which('make') is None:
            self.skipTest('make not installed')
        missing = [os.path.relpath(p, REPO_ROOT) for p in (MAN8, MAN5, SERVICE, SOCKET_UNIT)
                   if not os.path.exists(p)]
        self.assertEqual(missing, [], 'missing from the tree (make install needs them)')
        self.dest = tempfile.mkdtemp(prefix='smtpd-inst-')
        self.addCleanup(shutil.rmtree, self.dest, True)
        # Build in a copy of the sources: the install builds with
        # PREFIX=/usr and must not touch the working tree's objects.
        self.tree = os.path.join(self.dest, 'tree')
        os.mkdir(self.tree)
        for name in ('Makefile', 'src', 'include', 'man', 'etc'):
            src = os.path.join(REPO_ROOT, name)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(self.tree, name))
            else:
                shutil.copy(src, self.tree)

    def make(self, target):
        r = run_make([target, 'DESTDIR=' + self.dest, 'PREFIX=/usr', 'CFLAGS=-O0'],
                     cwd=self.tree)
        self.assertEqual(r.returncode, 0, 'make %s failed:\n%s'
                         % (target, r.stdout.decode('utf-8', 'replace')))
        return r.stdout.decode('utf-8', 'replace')

    def path(self, rel):
        return os.path.join(self.dest, rel.lstrip('/'))

    def test_install_reinstall_uninstall(self):
        self.make('install')
        sbin = self.path('/usr/sbin/smtpd')
        conf = self.path('/usr/etc/smtpd.conf')
        man8 = self.path('/usr/share/man/man8/smtpd.8')
        man5 = self.path('/usr/share/man/man5/smtpd.conf.5')
        unit = self.path('/usr/lib/systemd/system/smtpd.service')
        sock_unit = self.path('/usr/lib/systemd/system/smtpd.socket')

        for p in (sbin, conf, man8, man5, unit, sock_unit):
            self.assertTrue(os.path.isfile(p), 'make install did not create %s'
                            % os.path.relpath(p, self.dest))
        self.assertTrue(os.stat(sbin).st_mode & stat.S_IXUSR, 'installed smtpd not executable')
        r = subprocess.run([sbin, '-V'], stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=10)
        self.assertEqual(r.returncode, 0, r)
        self.assertRegex(r.stdout.decode(), r'^smtpd \d+\.\d+')
        with open(conf, 'rb') as f, open(SHIPPED_CONF, 'rb') as g:
            self.assertEqual(f.read(), g.read(), 'installed smtpd.conf differs from etc/smtpd.conf')
        # The man pages name the installed paths (test_initscript.py
        # checks them with SYSCONFDIR=/etc).
        for inst, orig in ((man8, MAN8), (man5, MAN5)):
            with open(inst, 'rb') as f, open(orig, 'rb') as g:
                want = g.read().replace(b'/usr/local/sbin', b'/usr/sbin') \
                    .replace(b'/usr/local/etc', b'/usr/etc') \
                    .replace(b'/usr/local/lib', b'/usr/lib') \
                    .replace(b'/usr/local/share/man', b'/usr/share/man')
                self.assertEqual(f.read(), want)

        # The unit names the installed paths, not /usr/local ones.
        text = read_text(unit)
        execs = [l for l in text.splitlines() if l.strip().startswith('ExecStart=')]
        self.assertTrue(execs, 'no ExecStart= line in the installed smtpd.service:\n' + text)
        self.assertIn('/usr/sbin/smtpd', execs[0])
        self.assertIn('/usr/etc/smtpd.conf', execs[0])
        self.assertNotIn('/usr/local', text, 'installed unit still names /usr/local')

        # A re-install keeps a configuration the administrator changed.
        with open(conf, 'a') as f:
            f.write('# changed by the administrator\n')
        with open(conf, 'rb') as f:
            changed = f.read()
        out = self.make('install')
        with open(conf, 'rb') as f:
            self.assertEqual(f.read(), changed, 'make install overwrote an existing smtpd.conf')
        self.assertIn('keeping existing', out)

        self.make('uninstall')
        for p in (sbin, man8, man5, unit, sock_unit, self.path('/usr/etc/init.d/smtpd')):
            self.assertFalse(os.path.exists(p), 'make uninstall left %s'
                             % os.path.relpath(p, self.dest))
        with open(conf, 'rb') as f:
            self.assertEqual(f.read(), changed, 'make uninstall removed or changed smtpd.conf')

    def test_installed_binary_default_config_path(self):
        """The installed binary's default -f is the installed smtpd.conf."""
        self.make('install')
        r = subprocess.run([self.path('/usr/sbin/smtpd'), '-h'], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 0, r)
        usage = r.stdout.decode()
        self.assertIn('/usr/etc/smtpd.conf', usage,
                      'make install PREFIX=/usr installed a binary whose default '
                      'configuration is not /usr/etc/smtpd.conf (it was compiled '
                      'with the PREFIX of the earlier plain "make")')


# ---------------------------------------------------------------------------
# 2. manual pages
# ---------------------------------------------------------------------------

class ManPages(unittest.TestCase):

    def need(self, *paths):
        missing = [os.path.relpath(p, REPO_ROOT) for p in paths if not os.path.exists(p)]
        self.assertEqual(missing, [], 'manual pages missing from the tree')

    def test_mandoc_lint(self):
        if shutil.which('mandoc') is None:
            self.skipTest('mandoc not installed')
        self.need(MAN8, MAN5)
        r = subprocess.run(['mandoc', '-T', 'lint', '-W', 'warning', MAN8, MAN5],
                           cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        out = (r.stdout + r.stderr).decode('utf-8', 'replace')
        self.assertEqual(out, '', 'mandoc -T lint -W warning complains:\n' + out)
        self.assertEqual(r.returncode, 0)

    @staticmethod
    def documented_in_man(text, kw):
        """kw introduced as a directive: mdoc .It Ic/Cm kw, or man(7) bold."""
        k = re.escape(kw)
        return any(re.search(p, text, re.M) for p in (
            r'^\.It\s+(?:Ic|Cm|Ar)\s+' + k + r'(?![\w])',
            r'^\.(?:B|BI|BR)\s+"?' + k + r'(?![\w])',
            r'\\fB' + k + r'(?![\w])'))

    def test_directives_documented(self):
        self.need(MAN5)
        man5 = read_text(MAN5)
        readme = read_text(README)
        kws = config_keywords()
        for kw in ('listen', 'maildir', 'domain', 'timeout', 'max_clients', 'proxy_from'):
            self.assertIn(kw, kws, 'keyword extraction from src/config.c is broken')
        missing_man = [k for k in kws if not self.documented_in_man(man5, k)]
        missing_readme = [k for k in kws if not re.search(r'`' + re.escape(k) + r'[\s`]', readme)]
        self.assertEqual(missing_man, [], 'directives of src/config.c without an entry '
                         'in man/smtpd.conf.5')
        self.assertEqual(missing_readme, [], 'directives of src/config.c missing from '
                         'the README configuration table')

    def test_options_documented(self):
        self.need(MAN8)
        man8 = read_text(MAN8)
        letters = getopt_letters()
        self.assertTrue({'d', 'f', 'n', 'p', 'V'} <= set(letters), letters)
        missing = [c for c in letters
                   if not re.search(r'^\.It\s+Fl\s+' + c + r'\b', man8, re.M)
                   and not re.search(r'\\-' + c + r'\b', man8)]
        self.assertEqual(missing, [], 'getopt options of src/main.c without an entry in '
                         'man/smtpd.8')


# ---------------------------------------------------------------------------
# 3. systemd socket activation
# ---------------------------------------------------------------------------

# Moves the inherited socket to fd 3, sets LISTEN_PID to its own pid (which
# exec keeps) and LISTEN_FDS=1, then becomes smtpd: what systemd does.
ACTIVATE = r'''
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
os.environ['LISTEN_PID'] = str(os.getpid())
os.environ['LISTEN_FDS'] = '1'
os.environ['LISTEN_FDNAMES'] = 'smtp'
os.execv(sys.argv[2], sys.argv[2:])
'''


class SocketActivation(unittest.TestCase):

    def test_inherited_socket(self):
        binary = require_bin()
        d = Daemon()
        self.addCleanup(d.cleanup)
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(lsock.close)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(('127.0.0.1', 0))
        lsock.listen(16)
        port = lsock.getsockname()[1]
        self.assertNotEqual(port, d.port)
        with open(d.conf) as f:
            self.assertIn('listen 127.0.0.1:%d\n' % d.port, f.read())

        d._err = open(d.errlog, 'wb')
        d.proc = subprocess.Popen(
            [sys.executable, '-c', ACTIVATE, str(lsock.fileno()), binary, '-d', '-f', d.conf],
            pass_fds=(lsock.fileno(),), stdin=subprocess.DEVNULL,
            stdout=d._err, stderr=d._err, cwd=REPO_ROOT)
        lsock.close()   # only smtpd holds the socket now

        started = wait_for(lambda: 'listening on' in d.stderr() or not d.alive())
        self.assertTrue(d.alive(), 'smtpd exited at start:\n' + d.stderr())
        self.assertTrue(started, 'no start-up line:\n' + d.stderr())
        self.assertIn('listening on 127.0.0.1:%d (inherited)' % port, d.stderr())
        self.assertFalse(_listening(d.port), 'smtpd bound its configured listen port '
                         'although it inherited a socket')

        c = RawClient(port)
        self.addCleanup(c.close)
        self.assertEqual(c.cmd('EHLO ' + HELO).code, 250)
        self.assertEqual(c.cmd('MAIL FROM:<a@x.test>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<alice@%s>' % DOMAIN).code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(b'Subject: activated\r\n\r\nvia an inherited socket\r\n.\r\n')
        c.expect(250)
        c.cmd('QUIT')
        c.close()
        msgs = read_new(d.maildir_path('alice'))
        self.assertEqual(len(msgs), 1)
        self.assertIn(b'via an inherited socket', msgs[0])
        self.assertFalse(_listening(d.port))
        d.stop_and_check()
        self.assertFalse(_listening(port), 'inherited socket still listening after exit')


# ---------------------------------------------------------------------------
# 4. detached, logging to syslog
# ---------------------------------------------------------------------------

PR_SET_CHILD_SUBREAPER = 36

# In a private mount namespace: /dev with the test's datagram socket as
# "log" (harness), then smtpd without -d.
NAMESPACE_SH = DEVLOG_NAMESPACE_SH + 'exec "$SMTPD" -f "$T/smtpd.conf" -p "$T/smtpd.pid"\n'


class Syslog(unittest.TestCase):

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest('needs root (mount namespace for a private /dev/log)')
        if shutil.which('unshare') is None or shutil.which('mount') is None:
            self.skipTest('unshare or mount not installed')
        probe = subprocess.run(['unshare', '-m', 'sh', '-c',
                                'mount -t tmpfs none /mnt && umount /mnt'],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        if probe.returncode != 0:
            self.skipTest('cannot mount in a private mount namespace: %s'
                          % probe.stderr.decode('utf-8', 'replace').strip())
        self.binary = require_bin()
        self.d = Daemon()
        self.addCleanup(self.d.cleanup)
        if os.path.realpath(self.d.tmp).startswith('/dev/'):
            self.skipTest('the temporary directory is below /dev, which this '
                          'test replaces with its own')
        self.log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self.log.close)
        self.log.bind(os.path.join(self.d.tmp, 'devlog'))
        self.log.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.datagrams = []
        self.pid = None
        self.reaper = False
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            self.reaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
            if self.reaper:
                self.addCleanup(libc.prctl, PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        self.addCleanup(self.kill_daemon)

    def kill_daemon(self):
        if self.pid is not None and not gone(self.pid):
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            wait_for(lambda: gone(self.pid), 2)
        self.reap()

    def reap(self):
        """Reap our zombie children: the daemon and the middle fork of its
        double fork were re-parented to us (child subreaper)."""
        me = os.getpid()
        for name in os.listdir('/proc'):
            if not name.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % name) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if fields[0] == 'Z' and int(fields[1]) == me:
                try:
                    os.waitpid(int(name), os.WNOHANG)
                except ChildProcessError:
                    pass

    def drain(self, timeout=0.0):
        """Collect the datagrams sent so far; wait up to timeout for one."""
        self.log.settimeout(timeout)
        try:
            while True:
                self.datagrams.append(self.log.recv(65536))
                self.log.settimeout(0)
        except (BlockingIOError, socket.timeout):
            pass
        return self.datagrams

    def wait_log(self, pattern, timeout=WAIT):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for dg in self.datagrams:
                if rx.search(dg):
                    return dg
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('no syslog datagram matching %r; got:\n%s'
                                     % (pattern, self.dump()))
            self.drain(min(left, 0.2))

    def tearDown(self):
        if os.environ.get('SMTPD_TEST_DUMP_SYSLOG'):
            sys.stderr.write('\n' + self.dump() + '\n')

    def dump(self):
        return '\n'.join(repr(dg) for dg in self.datagrams[-30:])

    def test_detach_syslog_pidfile(self):
        d = self.d
        pidfile = os.path.join(d.tmp, 'smtpd.pid')
        env = dict(os.environ, T=d.tmp, SMTPD=self.binary)
        with open(d.errlog, 'wb') as err:
            t0 = time.monotonic()
            p = subprocess.Popen(['unshare', '-m', 'sh', '-c', NAMESPACE_SH], env=env,
                                 stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                 cwd=REPO_ROOT)
            try:
                rc = p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.fail('smtpd without -d did not detach within 10 s')
        self.assertEqual(rc, 0, 'starting smtpd without -d failed:\n' + d.stderr())
        self.assertLess(time.monotonic() - t0, 5.0)

        # The pid file is written by the detached process, maybe just after
        # the parent exited.
        def pid_from_file():
            try:
                with open(pidfile) as f:
                    text = f.read()
            except OSError:
                return None
            return int(text) if re.fullmatch(r'\d+\n', text) else None
        self.pid = wait_for(pid_from_file)
        self.assertIsNotNone(self.pid, 'no pid file %s:\n%s' % (pidfile, d.stderr()))
        self.assertNotEqual(self.pid, p.pid, 'the pid file names the process that exited')
        self.assertFalse(gone(self.pid), 'the pid in the pid file is not running')
        self.assertTrue(wait_for(lambda: _listening(d.port)), 'detached smtpd not listening')
        # setsid() then a second fork: a session of its own, not its leader.
        self.assertNotEqual(os.getsid(self.pid), os.getsid(0), 'smtpd kept our session')
        self.assertNotEqual(os.getsid(self.pid), self.pid, 'smtpd is a session leader')
        self.assertEqual(os.readlink('/proc/%d/cwd' % self.pid), '/')

        start = self.wait_log(rb'smtpd\[%d\]: smtpd \S+ started, listening on' % self.pid)

        c = RawClient(d.port)
        self.addCleanup(c.close)
        self.assertEqual(c.cmd('EHLO ' + HELO).code, 250)
        self.assertEqual(c.cmd('MAIL FROM:<bob@x.test>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<alice@%s>' % DOMAIN).code, 250)
        # Control bytes in commands the daemon logs as rejected.
        self.assertGreaterEqual(c.cmd(b'RCPT TO:<x\x01@other.org>').code, 500)
        self.assertGreaterEqual(c.cmd(b'XYZZY \x1b[31mred\x7f').code, 500)
        self.assertGreaterEqual(c.cmd(b'NOOP a\rinjected').code, 250)
        self.assertEqual(c.cmd('DATA').code, 354)
        c.send(b'Subject: syslog\r\n\r\nlogged\r\n.\r\n')
        c.expect(250)
        self.assertEqual(c.cmd('QUIT').code, 221)
        c.close()
        self.assertEqual(len(read_new(d.maildir_path('alice'))), 1)

        self.wait_log(rb'session=\d+ disconnect ')
        self.drain(0.2)
        connect = self.wait_log(rb'session=\d+ connect client=\[127\.0\.0\.1\]')
        msg = self.wait_log(rb'result=delivered')
        disc = self.wait_log(rb'session=\d+ disconnect client=\[127\.0\.0\.1\]')
        for part in (rb'id=\S+', rb'from="<bob@x\.test>"', rb'nrcpt=1 ncopy=1',
                     rb'size=\d+', rb'result=delivered'):
            self.assertRegex(msg, part)
        copy = self.wait_log(rb'to="<alice@example\.org>" orig_to="<alice@example\.org>" '
                             rb'status=stored file="new/')
        self.assertEqual(re.search(rb'id=(\S+)', copy).group(1),
                         re.search(rb'id=(\S+)', msg).group(1))

        # Facility mail, the smtpd[pid] tag, one line per datagram.
        for dg in self.datagrams:
            m = re.match(rb'<(\d+)>', dg)
            self.assertIsNotNone(m, 'datagram without <PRI>: %r' % dg)
            self.assertEqual(int(m.group(1)) // 8, 2,
                             'not facility mail (2): %r' % dg)
            self.assertIn(b'smtpd[%d]: ' % self.pid, dg)
        for dg in (start, connect, msg, copy, disc):
            self.assertEqual(int(re.match(rb'<(\d+)>', dg).group(1)), 2 * 8 + 6,
                             'expected mail.info: %r' % dg)

        # Client bytes arrive escaped, never raw.
        self.wait_log(rb'command="RCPT TO:<x\\x01@other\.org>"')
        self.wait_log(rb'command="XYZZY \\x1b\[31mred\\x7f"')
        for dg in self.datagrams:
            body = dg.rstrip(b'\x00').rstrip(b'\n')
            raw = [b for b in body if b < 0x20 or b == 0x7f]
            self.assertEqual(raw, [], 'raw control byte in syslog datagram: %r' % dg)
        self.assertFalse(any(b'injected' in dg and b'\r' in dg for dg in self.datagrams))

        # SIGTERM: exit 0, pid file removed, stop lines logged.
        os.kill(self.pid, signal.SIGTERM)
        if self.reaper:
            status = None
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                wpid, st = os.waitpid(self.pid, os.WNOHANG)
                if wpid == self.pid:
                    status = st
                    break
                time.sleep(0.02)
            self.assertIsNotNone(status, 'smtpd did not exit within %.0fs of SIGTERM' % WAIT)
            self.assertTrue(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
                            'exit status after SIGTERM: %r' % status)
        else:
            self.assertTrue(wait_for(lambda: gone(self.pid)),
                            'smtpd did not exit after SIGTERM')
        self.assertFalse(os.path.exists(pidfile), 'pid file left after SIGTERM')
        self.wait_log(rb'smtpd\[%d\]: stopping on signal %d' % (self.pid, signal.SIGTERM))
        self.wait_log(rb'smtpd\[%d\]: stopped' % self.pid)
        self.assertFalse(_listening(d.port))


# ---------------------------------------------------------------------------
# 5. command line
# ---------------------------------------------------------------------------

class CommandLine(unittest.TestCase):

    def test_check_shipped_config(self):
        r = run_smtpd(['-n', '-f', SHIPPED_CONF])
        # -n checks that the shipped "user smtpd" exists (make install
        # creates it); on a host without it that is the only complaint.
        try:
            pwd.getpwnam('smtpd')
        except KeyError:
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stderr.decode('utf-8', 'replace'),
                             '%s: user smtpd: no such user (create it: '
                             'useradd --system smtpd)\n' % SHIPPED_CONF)
            return
        self.assertEqual(r.returncode, 0, r.stderr.decode('utf-8', 'replace'))
        self.assertIn(b'configuration OK', r.stdout)

    def test_version(self):
        r = run_smtpd(['-V'])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.decode(), r'^smtpd \d+\.\d+(\.\d+)?\S*\n$')

    def test_help(self):
        r = run_smtpd(['-h'])
        self.assertEqual(r.returncode, 0)
        out = r.stdout.decode()
        self.assertTrue(out.startswith('usage: smtpd'), out)
        for c in getopt_letters():
            self.assertRegex(out, r'(?m)^\s+-' + c + r'\b', 'option -%s missing from -h' % c)

    def test_unknown_option(self):
        r = run_smtpd(['-Z'])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b'usage:', r.stderr)
        self.assertEqual(r.stdout, b'')

    def test_stray_argument(self):
        r = run_smtpd(['-n', '-f', SHIPPED_CONF, 'extra'])
        self.assertNotEqual(r.returncode, 0)


if __name__ == '__main__':
    unittest.main()
