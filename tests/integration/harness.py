"""
harness.py - start smtpd on a loopback port and talk to it.

Daemon          one smtpd process with its own temp dir, config and spool.
RawClient       a socket speaking SMTP by hand: send(), read_reply(), expect();
                envelope() for the EHLO/MAIL/RCPT happy path.
DaemonTestCase  unittest base class: one daemon per class (setUpClass),
                configured with the class attribute `extra_config`.

Environment: SMTPD_BIN (default ./smtpd relative to the repo root).
Everything stays on 127.0.0.1 / ::1 and no name is ever looked up.
"""

import mailbox
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
import unittest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELO = 'client.test'
HOSTNAME = 'mx.test'
DOMAIN = 'example.org'
IO_TIMEOUT = 5.0          # seconds for any single socket read
START_TIMEOUT = 5.0       # seconds to wait for the daemon to listen
STOP_TIMEOUT = 5.0        # seconds to wait for exit after SIGTERM

# Lines in the daemon's stderr that mean memory or UB errors (sanitizers).
SANITIZER_RE = re.compile(r'AddressSanitizer|LeakSanitizer|runtime error:|ThreadSanitizer')


# The system user of the tests that start smtpd as root with a "user"
# line (made once, kept: tests may run in any order or alone).
TEST_USER = 'smtpd-spooltest'


def make_test_user():
    """TEST_USER's passwd entry, the user created if need be (root)."""
    import pwd
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        pass
    r = subprocess.run(['useradd', '--system', '--no-create-home',
                        '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin',
                        TEST_USER], capture_output=True)
    if r.returncode != 0:
        raise AssertionError('cannot create user %s: %s'
                             % (TEST_USER, r.stderr.decode().strip()))
    return pwd.getpwnam(TEST_USER)


# For "unshare -m sh -c": in a private mount namespace, a tmpfs over /dev
# holding only null, zero, urandom and random from the real /dev, and
# "log", bound to $T/devlog (the test's datagram socket). The caller
# appends its exec line.
DEVLOG_NAMESPACE_SH = r'''
set -e
mkdir -p "$T/realdev"
mount --bind /dev "$T/realdev"
mount -t tmpfs -o mode=755,size=64k smtpd-test-dev /dev
for n in null zero urandom random; do
    : > "/dev/$n"
    mount --bind "$T/realdev/$n" "/dev/$n"
done
: > /dev/log
mount --bind "$T/devlog" /dev/log
umount -l "$T/realdev"
'''


def smtpd_bin():
    path = os.environ.get('SMTPD_BIN', './smtpd')
    if not os.path.isabs(path):
        path = os.path.join(REPO_ROOT, path)
    return path


def require_bin():
    path = smtpd_bin()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError('smtpd binary not found or not executable: %s '
                             '(build it with make, or set SMTPD_BIN)' % path)
    return path


def free_port(family=socket.AF_INET, host='127.0.0.1'):
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def ipv6_loopback_available():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(('::1', 0))
        finally:
            s.close()
        return True
    except OSError:
        return False


def _listening(port):
    """True if some socket is in LISTEN state on port (no connection made)."""
    found_table = False
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        found_table = True
        for line in lines:
            fields = line.split()
            if len(fields) < 4:
                continue
            local, state = fields[1], fields[3]
            if state == '0A' and int(local.rsplit(':', 1)[1], 16) == port:
                return True
    if found_table:
        return False
    # No /proc: fall back to a probe connection.
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
        return True
    except OSError:
        return False


def run_smtpd(args, timeout=10):
    """Run smtpd with args (list) to completion; returns CompletedProcess."""
    return subprocess.run([require_bin()] + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, cwd=REPO_ROOT)


class Daemon:
    """One smtpd -d process. Config lines may use {tmp} and {port}."""

    # Single-valued keywords the base config sets; an extra line with the
    # same keyword replaces the base one.
    OVERRIDABLE = ('hostname', 'maildir')

    def __init__(self, extra_config=(), listen=None, base=True):
        self.tmp = tempfile.mkdtemp(prefix='smtpd-it-')
        self.spool = os.path.join(self.tmp, 'spool')
        os.mkdir(self.spool)
        self.port = free_port()
        self.conf = os.path.join(self.tmp, 'smtpd.conf')
        self.errlog = os.path.join(self.tmp, 'stderr.log')
        self.proc = None
        extra = [l.format(tmp=self.tmp, port=self.port) for l in extra_config]
        keys = {l.split()[0] for l in extra if l.strip() and not l.startswith('#')}
        lines = []
        if base:
            if listen is None:
                lines.append('listen 127.0.0.1:%d' % self.port)
            else:
                lines.extend('listen %s' % l.format(port=self.port) for l in listen)
            if 'hostname' not in keys:
                lines.append('hostname ' + HOSTNAME)
            lines.append('domain ' + DOMAIN)
            if 'maildir' not in keys:
                lines.append('maildir %s/%%d/%%u' % self.spool)
        lines.extend(extra)
        tmpl = [l.split(None, 1)[1].strip() for l in lines
                if l.split(None, 1)[:1] == ['maildir'] and len(l.split()) > 1]
        self.maildir_root = self._root(tmpl[-1]) if tmpl else self.spool
        with open(self.conf, 'w') as f:
            f.write('\n'.join(lines) + '\n')

    def start(self, wait_port=None):
        binary = require_bin()
        self._err = open(self.errlog, 'wb')
        self.proc = subprocess.Popen([binary, '-d', '-f', self.conf],
                                     stdin=subprocess.DEVNULL, stdout=self._err,
                                     stderr=self._err, cwd=REPO_ROOT)
        port = self.port if wait_port is None else wait_port
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError('smtpd exited with %s at start:\n%s'
                                     % (self.proc.returncode, self.stderr()))
            if _listening(port):
                return self
            time.sleep(0.02)
        self.kill()
        raise AssertionError('smtpd did not listen on port %d within %.0fs:\n%s'
                             % (port, START_TIMEOUT, self.stderr()))

    def wait_listening(self, port, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not _listening(port):
            if time.monotonic() > deadline:
                raise AssertionError('nothing listens on port %d:\n%s' % (port, self.stderr()))
            time.sleep(0.02)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def open_files(self):
        """{fd: what it names} of the running daemon's descriptors."""
        out = {}
        fds = '/proc/%d/fd' % self.proc.pid
        for n in os.listdir(fds):
            try:
                out[int(n)] = os.readlink(os.path.join(fds, n))
            except OSError:
                pass            # closed meanwhile
        return out

    def stderr(self, tail=4000):
        try:
            with open(self.errlog, 'rb') as f:
                data = f.read()
        except OSError:
            return ''
        return data[-tail:].decode('utf-8', 'replace')

    def stop(self):
        """SIGTERM, wait, SIGKILL after STOP_TIMEOUT. Returns exit status."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._err.close()
                return 'killed after SIGTERM timeout'
        self._err.close()
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stop_and_check(self):
        """Stop and raise AssertionError unless the exit was clean."""
        rc = self.stop()
        err = self.stderr(100000)
        problems = []
        if rc != 0:
            problems.append('smtpd exit status after SIGTERM: %r (expected 0)' % (rc,))
        if SANITIZER_RE.search(err):
            problems.append('sanitizer report in stderr')
        if problems:
            raise AssertionError('; '.join(problems) + '\n--- stderr tail ---\n'
                                 + err[-3000:])

    # ---- spool access -------------------------------------------------
    def maildir_path(self, local, domain=DOMAIN):
        return os.path.join(self.spool, domain.lower(), local.lower())

    @staticmethod
    def _root(tmpl):
        """The fixed directory prefix of a maildir template (what the
        daemon creates at start and keeps using): the part before the
        first '%' up to its last '/', or all of it without '%'."""
        if '%' not in tmpl:
            return tmpl.rstrip('/') or '/'
        head = tmpl[:tmpl.index('%')]
        return head[:head.rfind('/')] or '/'

    def clear_spool(self):
        """Empty the maildir root, keeping the root directory itself. The
        daemon may be removing an aborted copy's new maildir meanwhile:
        what is gone already is fine."""
        root = self.maildir_root
        if not os.path.isdir(root) or not root.startswith(self.tmp + os.sep):
            return

        def gone(func, path, exc_info):
            if not isinstance(exc_info[1], FileNotFoundError):
                raise exc_info[1]

        for name in os.listdir(root):
            p = os.path.join(root, name)
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p, onerror=gone)
                else:
                    os.unlink(p)
            except FileNotFoundError:
                pass


def read_new(path):
    """Raw bytes of every file in path/new, sorted by file name."""
    new = os.path.join(path, 'new')
    if not os.path.isdir(new):
        return []
    out = []
    for name in sorted(os.listdir(new)):
        with open(os.path.join(new, name), 'rb') as f:
            out.append(f.read())
    return out


def all_new_files(root):
    """{path: bytes} of every file in any new/ directory below root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.basename(dirpath) == 'new':
            for name in filenames:
                p = os.path.join(dirpath, name)
                with open(p, 'rb') as f:
                    out[p] = f.read()
    return out


def split_trace(raw):
    """Split a stored message into (return_path_line, received_unfolded, rest).

    The daemon prepends 'Return-Path: <...>', 'Delivered-To: mailbox' and
    one 'Received:' header (possibly folded). Raises AssertionError when
    they are not there.
    """
    lines = raw.split(b'\n')
    if not lines[0].startswith(b'Return-Path:'):
        raise AssertionError('stored message does not start with Return-Path: %r'
                             % raw[:200])
    rp = lines[0].decode('latin-1')
    if len(lines) < 2 or not lines[1].startswith(b'Delivered-To: '):
        raise AssertionError('second header is not Delivered-To: %r' % raw[:300])
    i = 2
    if i >= len(lines) or not lines[i].startswith(b'Received:'):
        raise AssertionError('third header is not Received: %r' % raw[:300])
    rec = [lines[i]]
    i += 1
    while i < len(lines) and lines[i][:1] in (b' ', b'\t'):
        rec.append(lines[i])
        i += 1
    received = b' '.join(l.strip() if n else l.rstrip() for n, l in enumerate(rec))
    received = re.sub(rb'\s+', b' ', received).decode('latin-1')
    rest = b'\n'.join(lines[i:])
    return rp, received, rest


def delivered_to(raw):
    """The mailbox the daemon's Delivered-To: header names in a stored copy."""
    line = raw.split(b'\n')[1]
    if not line.startswith(b'Delivered-To: '):
        raise AssertionError('second header is not Delivered-To: %r' % raw[:300])
    return line[len(b'Delivered-To: '):].decode('utf-8')


def body_of(raw):
    """The stored message without the daemon's trace headers."""
    return split_trace(raw)[2]


def to_stored(wire):
    """What a message sent on the wire (CRLF, dot-stuffed, without the
    final '.CRLF') should look like when stored: dots unstuffed, LF."""
    lines = wire.split(b'\r\n')
    lines = [l[1:] if l.startswith(b'.') else l for l in lines]
    return b'\n'.join(lines)


class Reply:
    def __init__(self, code, lines):
        self.code = code
        self.lines = lines          # text after "NNN-" / "NNN "

    @property
    def text(self):
        return '\n'.join(self.lines)

    @property
    def enhanced(self):
        m = re.match(r'([245]\.\d{1,3}\.\d{1,3})(?:\s|$)', self.lines[0])
        return m.group(1) if m else None

    def __repr__(self):
        return 'Reply(%d, %r)' % (self.code, self.lines)


class ProtocolError(AssertionError):
    pass


class RawClient:
    """A plain socket with SMTP reply parsing."""

    def __init__(self, port, host='127.0.0.1', greeting=True, timeout=IO_TIMEOUT,
                 family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.connect((host, port))
        self.buf = b''
        self.transcript = []
        self.greeting = None
        if greeting:
            self.greeting = self.expect(220)

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        self.transcript.append(('C', data))
        self.sock.sendall(data)

    def cmd(self, line):
        """Send one command line (CRLF added) and read its reply."""
        self.send(line + '\r\n' if isinstance(line, str) else line + b'\r\n')
        return self.read_reply()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError('connection closed by server')
        self.buf += chunk

    def read_line(self):
        while b'\n' not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b'\n', 1)
        self.transcript.append(('S', line + b'\n'))
        if not line.endswith(b'\r'):
            raise ProtocolError('reply line not terminated by CRLF: %r' % line)
        return line[:-1]

    def read_reply(self):
        """Read one complete (possibly multi-line) reply."""
        lines = []
        code = None
        while True:
            line = self.read_line().decode('utf-8', 'replace')
            m = re.match(r'(\d{3})([ -])(.*)$', line) or re.match(r'(\d{3})()()$', line)
            if not m:
                raise ProtocolError('malformed reply line %r' % line)
            c = int(m.group(1))
            if code is not None and c != code:
                raise ProtocolError('reply code changed inside multi-line reply: %r' % line)
            code = c
            lines.append(m.group(3))
            if m.group(2) != '-':
                return Reply(code, lines)

    def expect(self, code, enhanced=None):
        """Read a reply; assert its code (and enhanced status code prefix)."""
        try:
            r = self.read_reply()
        except (EOFError, socket.timeout, OSError) as e:
            raise AssertionError('expected %s reply, got %s: %s' % (code, type(e).__name__, e))
        if r.code != code:
            raise AssertionError('expected %s%s, got %r' % (
                code, ' ' + enhanced if enhanced else '', r))
        if enhanced is not None and r.enhanced != enhanced:
            raise AssertionError('expected enhanced code %s in %r' % (enhanced, r))
        return r

    def replies_until_close(self, limit=20):
        """Read replies until EOF (or timeout); returns the list."""
        out = []
        try:
            while len(out) < limit:
                out.append(self.read_reply())
        except (EOFError, ConnectionResetError):
            pass
        return out

    def is_closed(self, timeout=3.0):
        """True if the server closes the connection within timeout (any
        bytes still unread are discarded)."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
            return False
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(old)

    def nothing_pending(self, wait=0.3):
        """True if the server sends nothing for `wait` seconds."""
        if self.buf:
            return False
        old = self.sock.gettimeout()
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
            self.buf += chunk
            return False
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(old)

    def ehlo(self, name=HELO):
        self.send('EHLO %s\r\n' % name)
        return self.expect(250)

    def envelope(self, rcpts=('user@example.org',), mail_from='a@x.test', helo=HELO,
                 mail_params='', pipelined=True):
        """The happy-path preamble of a transaction.

        EHLO helo (skipped when helo is None: the session already said it),
        then MAIL FROM:<mail_from>mail_params and one RCPT TO per address in
        rcpts -- MAIL and the RCPTs in one write when pipelined, else each
        sent after the reply to the one before. Asserts 250 for EHLO,
        250 2.1.0 for MAIL and 250 2.1.5 for every RCPT; returns the
        replies in order (the EHLO one first when it was sent)."""
        if isinstance(rcpts, str):
            rcpts = (rcpts,)
        replies = []
        if helo is not None:
            replies.append(self._expect_reply_to('EHLO %s' % helo, 250))
        cmds = [('MAIL FROM:<%s>%s' % (mail_from, mail_params), '2.1.0')]
        cmds.extend(('RCPT TO:<%s>' % r, '2.1.5') for r in rcpts)
        if pipelined:
            self.send(''.join(line + '\r\n' for line, _ in cmds))
        for line, enhanced in cmds:
            replies.append(self._expect_reply_to(line, 250, enhanced,
                                                 send=not pipelined))
        return replies

    def _expect_reply_to(self, line, code, enhanced=None, send=True):
        """Send line (unless send is false: it went out already) and assert
        its reply, naming the command in the failure message."""
        if send:
            self.send(line + '\r\n')
        try:
            r = self.read_reply()
        except (EOFError, socket.timeout, OSError) as e:
            raise AssertionError('%s: expected %s%s, got %s: %s' % (
                line, code, ' ' + enhanced if enhanced else '', type(e).__name__, e))
        if r.code != code or (enhanced is not None and r.enhanced != enhanced):
            raise AssertionError('%s: expected %s%s, got %r' % (
                line, code, ' ' + enhanced if enhanced else '', r))
        return r

    def start_data(self, rcpt='user@example.org', mail_from='a@x.test'):
        """envelope() for one recipient, then DATA; returns at the 354."""
        self.envelope(rcpts=(rcpt,), mail_from=mail_from)
        self.send('DATA\r\n')
        return self.expect(354)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class DaemonTestCase(unittest.TestCase):
    """One daemon for the whole class; the spool is emptied before each test.

    Class attributes:
      extra_config  lines appended to the base config ({tmp}, {port} expand)
      listen        list of listen values replacing the default one
    """

    extra_config = ()
    listen = None
    daemon = None
    shared_daemon = True      # False: no class daemon (tests start their own)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.shared_daemon:
            return
        d = Daemon(cls.extra_config, listen=cls.listen)
        try:
            d.start()
        except BaseException:
            d.cleanup()
            raise
        cls.daemon = d
        cls.port = d.port
        cls.spool = d.spool

    @classmethod
    def tearDownClass(cls):
        d = cls.daemon
        cls.daemon = None
        if d is not None:
            try:
                d.stop_and_check()
            finally:
                d.cleanup()
        super().tearDownClass()

    def setUp(self):
        if not self.shared_daemon:
            return
        if not self.daemon.alive():
            self.fail('smtpd is no longer running (exit %s); stderr:\n%s'
                      % (self.daemon.proc.returncode, self.daemon.stderr()))
        self.daemon.clear_spool()

    # ---- clients ------------------------------------------------------
    def smtp(self, **kw):
        s = smtplib.SMTP('127.0.0.1', self.port, local_hostname=HELO,
                         timeout=IO_TIMEOUT, **kw)
        self.addCleanup(self._close_smtp, s)
        return s

    @staticmethod
    def _close_smtp(s):
        try:
            s.close()
        except Exception:
            pass

    def raw(self, greeting=True, **kw):
        c = RawClient(self.port, greeting=greeting, **kw)
        self.addCleanup(c.close)
        return c

    def start_daemon(self, extra_config=(), **kw):
        """A private daemon for one test; checked and removed at cleanup."""
        d = Daemon(extra_config, **kw)
        self.addCleanup(d.cleanup)
        d.start()
        self.addCleanup(d.stop_and_check)
        return d

    # ---- spool --------------------------------------------------------
    def maildir_path(self, local, domain=DOMAIN):
        return self.daemon.maildir_path(local, domain)

    def maildir(self, local, domain=DOMAIN):
        return mailbox.Maildir(self.maildir_path(local, domain), factory=None,
                               create=False)

    def messages(self, local, domain=DOMAIN):
        return read_new(self.maildir_path(local, domain))

    def all_messages(self):
        return all_new_files(self.spool)

    def assertOneMessage(self, local, domain=DOMAIN):
        msgs = self.messages(local, domain)
        self.assertEqual(len(msgs), 1, 'expected exactly one message for %s@%s, '
                         'spool has %r' % (local, domain, sorted(self.all_messages())))
        return msgs[0]

    # ---- a whole transaction over a raw socket ------------------------
    def send_raw(self, body, rcpts=('user@example.org',), mail_from='a@x.test',
                 client=None, mail_params=''):
        """EHLO/MAIL/RCPT/DATA; body (bytes, already CRLF and dot-stuffed,
        ending in CRLF or empty) then '.CRLF'. Returns the final Reply."""
        c = client or self.raw()
        c.envelope(rcpts=rcpts, mail_from=mail_from, mail_params=mail_params,
                   helo=HELO if client is None else None, pipelined=False)
        c.send('DATA\r\n')
        c.expect(354)
        c.send(body + b'.\r\n')
        return c.read_reply()
