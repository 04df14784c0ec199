"""
test_faults.py - hostile clients, faults and signals: the daemon keeps
serving, loses nothing and lets nobody out of the spool.
"""

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
import unittest

from harness import (Daemon, RawClient, read_new, all_new_files, body_of,
                     HELO, DOMAIN, HOSTNAME)


def is_root():
    return os.geteuid() == 0


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS')


def proc_status(pid):
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            out[k] = v.split()
    return out


def unnamed_files(daemon, maildir):
    """The files the daemon holds open with no name, in maildir's new/."""
    prefix = os.path.join(maildir, 'new') + '/'
    return [t for t in daemon.open_files().values()
            if t.startswith(prefix) and t.endswith(' (deleted)')]


def dead_pid():
    """A pid no process has now."""
    for pid in range(4000000, 3000000, -1):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
    raise AssertionError('no free pid')


def gone(path, timeout=5.0):
    """True once path does not exist (within timeout)."""
    deadline = time.monotonic() + timeout
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not os.path.exists(path)


def start(extra=(), **kw):
    d = Daemon(extra, **kw)
    d.start()
    return d


def greet(d):
    c = RawClient(d.port)
    c.cmd('EHLO ' + HELO)
    return c


def files_under(root):
    out = []
    for dirpath, _, names in os.walk(root):
        out.extend(os.path.join(dirpath, n) for n in names)
    return out


class DaemonCase(unittest.TestCase):
    """A fresh daemon per test: these tests kill, signal and starve it."""

    extra = ()

    def setUp(self):
        self.d = start(self.extra)

    def tearDown(self):
        try:
            self.d.stop_and_check()
        finally:
            self.d.cleanup()


def sanitized():
    return os.environ.get('SMTPD_BUILD', 'build') != 'build'


@unittest.skipIf(sanitized(), 'sanitizer runtimes have their own memory use')
class TestMemoryBounds(DaemonCase):
    extra = ('max_message_size 1000000', 'max_errors 1000000', 'max_recipients 5')

    def test_endless_line_and_data_keep_rss_flat(self):
        pid = self.d.proc.pid
        c = greet(self.d)
        before = rss_kb(pid)
        chunk = b'A' * 65536
        for _ in range(300):            # ~20 MB without a LF
            c.send(chunk)
        c.send(b'\r\n')
        c.expect(500, '5.5.2')
        c.send(b'\x00' * 2000000 + b'\r\n')  # megabytes of NUL bytes
        c.expect(500, '5.5.2')
        self.assertEqual(c.cmd('NOOP').code, 250)
        c.envelope(('big@example.org',), helo=None, pipelined=False)
        c.cmd('DATA')
        for _ in range(300):            # ~20 MB of DATA, far over the limit
            c.send(b'x' * 1000 + b'\r\n' + b'y' * 64000 + b'\r\n')
        c.send(b'.\r\n')
        c.expect(552, '5.3.4')
        c.cmd('MAIL FROM:<a@x.test>')
        for i in range(2000):           # many RCPTs: all past 5 refused, none kept
            c.send(b'RCPT TO:<r%d@example.org>\r\n' % i)
        replies = [c.read_reply().code for _ in range(2000)]
        self.assertEqual(replies.count(250), 5)
        self.assertEqual(replies.count(452), 1995)
        after = rss_kb(pid)
        self.assertLess(after - before, 4096, 'RSS grew from %d to %d KB' % (before, after))
        self.assertEqual(read_new(self.d.maildir_path('big')), [])



class TestBadInputStaysInside(DaemonCase):
    extra = ('max_errors 1000',)

    def test_local_parts_never_leave_the_spool(self):
        c = greet(self.d)
        c.cmd('MAIL FROM:<a@x.test>')
        bad = ['"../../etc/x"', '"a/b"', '".hidden"', '"x\\/y"', '"..\\/..\\/z"']
        for local in bad:
            r = c.cmd('RCPT TO:<%s@example.org>' % local)
            self.assertEqual(r.code, 550, local)
            self.assertEqual(r.enhanced, '5.1.3', local)
        # Shell and expansion syntax is just text: accepted, stored literally.
        for local in (';touch x;', '${run{x}}', '$(id)'):
            quoted = '"%s"' % local if any(ch in local for ch in ';(){}') else local
            r = c.cmd('RCPT TO:<%s@example.org>' % quoted)
            self.assertIn(r.code, (250, 550), local)
        c.cmd('RSET')
        c.cmd('QUIT')
        outside = [p for p in files_under(self.d.tmp)
                   if not p.startswith(self.d.spool + os.sep)
                   and not p.endswith(('smtpd.conf', 'stderr.log'))]
        self.assertEqual(outside, [])
        self.assertFalse(os.path.exists(os.path.join(self.d.tmp, 'x')))
        self.assertFalse(os.path.exists('/etc/x'))

    def test_crlf_in_helo_and_params_forges_nothing(self):
        c = RawClient(self.d.port)
        c.send(b'EHLO evil\rX-Forged: yes\r\n')
        self.assertEqual(c.read_reply().code, 500)
        c.send(b'NOOP a\rinjected\r\n')
        self.assertEqual(c.read_reply().code, 500)
        c.send(b'EHLO evil\x01x\r\n')
        self.assertEqual(c.read_reply().code, 501)
        c.cmd('EHLO ' + HELO)
        c.send(b'MAIL FROM:<a@x.test> ENVID=a\rX-Forged:yes\r\n')
        self.assertEqual(c.read_reply().code // 100, 5)
        c.envelope(('bob@example.org',), helo=None, pipelined=False)
        c.cmd('DATA')
        c.send(b'Subject: ok\r\n\r\nbody\r\n.\r\n')
        c.expect(250)
        c.cmd('QUIT')
        msgs = read_new(self.d.maildir_path('bob'))
        self.assertEqual(len(msgs), 1)
        self.assertNotIn(b'X-Forged', msgs[0])
        for line in self.d.stderr(100000).splitlines():
            self.assertFalse(line.startswith('X-Forged'), line)

    def test_symlinked_tmp_gets_451_and_writes_nothing_elsewhere(self):
        target = os.path.join(self.d.tmp, 'elsewhere')
        os.mkdir(target)
        md = self.d.maildir_path('eve')
        os.makedirs(md)
        os.symlink(target, os.path.join(md, 'tmp'))
        os.symlink(target, os.path.join(self.d.spool, DOMAIN, 'mallory'))
        # Found at RCPT, before anything is opened: that recipient is
        # deferred.
        for user in ('eve', 'mallory'):
            c = greet(self.d)
            c.cmd('MAIL FROM:<a@x.test>')
            r = c.cmd('RCPT TO:<%s@example.org>' % user)
            self.assertEqual((r.code, r.enhanced), (451, '4.3.0'), r)
            c.cmd('QUIT')
        self.assertEqual(os.listdir(target), [])

    def test_file_and_directory_modes(self):
        c = greet(self.d)
        c.envelope(('perm@example.org',), helo=None, pipelined=False)
        c.cmd('DATA')
        c.send(b'x\r\n.\r\n')
        c.expect(250)
        md = self.d.maildir_path('perm')
        for sub in ('', 'tmp', 'new', 'cur'):
            mode = stat.S_IMODE(os.stat(os.path.join(md, sub)).st_mode)
            self.assertEqual(mode, 0o700, sub)
        name = os.listdir(os.path.join(md, 'new'))[0]
        mode = stat.S_IMODE(os.stat(os.path.join(md, 'new', name)).st_mode)
        self.assertEqual(mode, 0o600)


class TestSlowClients(DaemonCase):
    extra = ('timeout 2', 'transaction_timeout 3')

    def test_trickled_command_line_is_cut_off(self):
        c = RawClient(self.d.port)
        t0 = time.monotonic()
        closed = False
        for ch in b'NOOP' + b'x' * 40:
            try:
                c.send(bytes([ch]))
            except OSError:
                closed = True
                break
            if c.is_closed(0.4):
                closed = True
                break
        self.assertTrue(closed or c.is_closed(3), 'still open after trickling')
        self.assertLess(time.monotonic() - t0, 8)
        self.assertIn(b'421 4.4.2', c.buf)

    def test_trickled_data_is_cut_off(self):
        c = greet(self.d)
        c.envelope(('slow@example.org',), helo=None, pipelined=False)
        c.cmd('DATA')
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 10:
            try:
                c.send(b'x')
            except OSError:
                closed = True
                break
            if c.is_closed(0.5):
                closed = True
                break
        self.assertTrue(closed, 'DATA trickle not bounded')
        self.assertLess(time.monotonic() - t0, 8)
        self.assertIn(b'421 4.4.2', c.buf)
        self.assertEqual(read_new(self.d.maildir_path('slow')), [])
        # Nothing stored: the maildir made for it is gone again.
        self.assertTrue(gone(self.d.maildir_path('slow')))


class TestManySessions(DaemonCase):
    """Thousands of sessions: the stop check catches leaks (LeakSanitizer
    in the ASan build) and races (the TSan build)."""

    def test_thousands_of_sessions(self):
        n = 300 if sanitized() else 2000
        for i in range(n):
            c = RawClient(self.d.port)
            c.cmd('EHLO ' + HELO)
            if i % 50 == 0:
                c.envelope(('many@example.org',), helo=None, pipelined=False)
                c.cmd('DATA')
                c.send(b'm\r\n.\r\n')
                c.expect(250)
            elif i % 7 == 0:
                c.envelope(('many@example.org',), helo=None, pipelined=False)
                c.cmd('DATA')
                c.send(b'cut')
                c.sock.close()
                continue
            c.cmd('QUIT')
            c.sock.close()
        self.assertEqual(len(read_new(self.d.maildir_path('many'))), (n + 49) // 50)


class TestPerIpLimit(DaemonCase):
    extra = ('max_clients_per_ip 2',)

    def test_third_connection_from_one_address_refused(self):
        a, b = RawClient(self.d.port), RawClient(self.d.port)
        c = RawClient(self.d.port, greeting=False)
        r = c.read_reply()
        self.assertEqual(r.code, 421)
        self.assertTrue(c.is_closed())
        a.cmd('QUIT')
        self.assertTrue(a.is_closed())
        time.sleep(0.2)
        d = RawClient(self.d.port)       # a slot is free again
        self.assertEqual(d.cmd('NOOP').code, 250)
        b.cmd('QUIT')


class TestEarlyTalker(DaemonCase):
    extra = ('greeting_delay 1',)

    def test_talking_first_is_refused(self):
        c = RawClient(self.d.port, greeting=False)
        c.send('EHLO %s\r\n' % HELO)
        r = c.read_reply()
        self.assertEqual(r.code, 554)
        self.assertTrue(c.is_closed())

    def test_patient_client_is_served(self):
        c = RawClient(self.d.port)
        self.assertEqual(c.cmd('EHLO ' + HELO).code, 250)


class TestDisconnects(DaemonCase):

    def test_disconnect_mid_data_leaves_nothing(self):
        c = greet(self.d)
        c.envelope(('cut@example.org',), helo=None, pipelined=False)
        c.cmd('DATA')
        c.send(b'Subject: x\r\n\r\n' + b'partial line\r\n' * 1000)
        c.sock.close()
        time.sleep(0.5)
        md = self.d.maildir_path('cut')
        self.assertEqual(read_new(md), [])
        # Nothing stored: the maildir made for it is gone again.
        self.assertTrue(gone(md))
        # still serving
        c2 = greet(self.d)
        self.assertEqual(c2.cmd('NOOP').code, 250)

    def test_kill9_mid_delivery_leaves_nothing(self):
        # The copy being written has no name (an unnamed file in new/)
        # until it is complete and synced: a crash leaves nothing behind.
        c = greet(self.d)
        c.envelope(('crash@example.org',), helo=None, pipelined=False)
        c.cmd('DATA')
        c.send(b'Subject: x\r\n\r\n' + b'y' * 200000 + b'\r\n')
        md = self.d.maildir_path('crash')
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not unnamed_files(self.d, md):
            time.sleep(0.05)
        self.assertEqual(len(unnamed_files(self.d, md)), 1)
        self.assertEqual(os.listdir(os.path.join(md, 'tmp')), [])
        self.d.proc.kill()
        self.d.proc.wait()
        self.d._err.close()
        c.sock.close()
        self.assertEqual(read_new(md), [])
        self.d.start()
        self.assertEqual(os.listdir(os.path.join(md, 'tmp')), [])
        self.assertEqual(read_new(md), [])
        c2 = greet(self.d)
        self.assertEqual(c2.cmd('NOOP').code, 250)
        c2.sock.close()

    def test_restart_removes_stale_tmp_files(self):
        # Where tmp/ is used (no unnamed files on the spool's filesystem),
        # a crashed daemon's files there are removed at the next start;
        # a live process's and another host's are kept.
        self.d.stop_and_check()
        tmp = os.path.join(self.d.maildir_path('crash'), 'tmp')
        os.makedirs(tmp)
        dead = dead_pid()
        names = {
            'stale': '1700000000.M1P%dQ1R0badf00d.%s' % (dead, HOSTNAME),
            'live': '1700000000.M2P%dQ2R0badf00d.%s' % (os.getpid(), HOSTNAME),
            'other': '1700000000.M3P%dQ3R0badf00d.other.host' % dead,
        }
        for name in names.values():
            open(os.path.join(tmp, name), 'wb').close()
        self.d.start()
        self.assertEqual(sorted(os.listdir(tmp)), sorted([names['live'], names['other']]))
        self.assertIn('removed 1 stale file from tmp/', self.d.stderr())


class TestSignals(DaemonCase):

    def test_sigterm_answers_idle_sessions_and_finishes_data(self):
        idle = greet(self.d)
        busy = greet(self.d)
        busy.envelope(('inflight@example.org',), helo=None, pipelined=False)
        busy.cmd('DATA')
        busy.send(b'Subject: x\r\n\r\nfirst part\r\n')
        time.sleep(0.2)
        self.d.proc.send_signal(signal.SIGTERM)
        r = idle.read_reply()
        self.assertEqual((r.code, r.enhanced), (421, '4.3.2'))
        self.assertTrue(idle.is_closed())
        busy.send(b'second part\r\n.\r\n')
        busy.expect(250)
        self.assertEqual(self.d.proc.wait(10), 0)
        msgs = read_new(self.d.maildir_path('inflight'))
        self.assertEqual(len(msgs), 1)
        self.assertTrue(body_of(msgs[0]).endswith(b'first part\nsecond part\n'))

    def test_sigterm_wakes_sessions_mid_line_and_after_data(self):
        # One session has sent half a command, the other is between
        # messages after a delivery: both get 421 at once.
        partial = greet(self.d)
        partial.send(b'MAIL FROM:<a@x.t')
        done = greet(self.d)
        done.envelope(('before@example.org',), helo=None, pipelined=False)
        done.cmd('DATA')
        done.send(b'Subject: x\r\n\r\nbody\r\n.\r\n')
        done.expect(250)
        time.sleep(0.2)
        self.d.proc.send_signal(signal.SIGTERM)
        for c in (partial, done):
            r = c.read_reply()
            self.assertEqual((r.code, r.enhanced), (421, '4.3.2'))
            self.assertTrue(c.is_closed())
        self.assertEqual(self.d.proc.wait(10), 0)
        self.assertEqual(len(read_new(self.d.maildir_path('before'))), 1)

    def test_sighup_reloads_and_keeps_old_on_error(self):
        with open(self.d.conf) as f:
            good = f.read()
        with open(self.d.conf, 'w') as f:
            f.write(good + 'domain example.net\n')
        self.d.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        c = greet(self.d)
        c.envelope(('u@example.net',), helo=None, pipelined=False)
        c.cmd('QUIT')
        with open(self.d.conf, 'w') as f:
            f.write(good + 'bogus_keyword 1\n')
        self.d.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertIn('keeping the configuration in force', self.d.stderr())
        c = greet(self.d)
        c.envelope(('u@example.net',), helo=None, pipelined=False)
        c.cmd('QUIT')

    def test_sessions_in_flight_keep_their_config(self):
        early = greet(self.d)            # started under the first config
        with open(self.d.conf) as f:
            good = f.read()
        with open(self.d.conf, 'w') as f:
            f.write(good.replace('domain example.org', 'domain example.com'))
        self.d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while 'reloaded' not in self.d.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        early.envelope(('old@example.org',), helo=None, pipelined=False)
        late = greet(self.d)
        late.cmd('MAIL FROM:<a@x.test>')
        self.assertEqual(late.cmd('RCPT TO:<old@example.org>').code, 550)
        self.assertEqual(late.cmd('RCPT TO:<new@example.com>').code, 250)
        early.cmd('QUIT')
        late.cmd('QUIT')

    def test_sigusr1_logs_status(self):
        c = greet(self.d)
        c.envelope(('st@example.org',), helo=None, pipelined=False)
        c.cmd('DATA')
        c.send(b'x\r\n.\r\n')
        c.expect(250)
        self.d.proc.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        self.assertRegex(self.d.stderr(), r'status sessions_active=1 sessions_total=1 '
                         r'messages_accepted=1 messages_rejected=0 bytes_received=3')


@unittest.skipUnless(is_root(), 'needs root')
class TestAsRoot(unittest.TestCase):

    def tearDown(self):
        if getattr(self, 'd', None):
            try:
                self.d.stop_and_check()
            finally:
                if getattr(self, 'mnt', None):
                    subprocess.run(['umount', self.mnt], check=False)
                self.d.cleanup()

    def test_drops_to_user_uid_gid_groups(self):
        import pwd
        pw = pwd.getpwnam('nobody')
        self.d = Daemon(['user nobody'])
        os.chmod(self.d.tmp, 0o755)
        # An existing spool root must already be the user's: smtpd gives
        # away only a root it makes (test_mailboxes.SpoolRootAsRoot).
        os.chown(self.d.spool, pw.pw_uid, pw.pw_gid)
        self.d.start()
        st = proc_status(self.d.proc.pid)
        self.assertEqual(st['Uid'], [str(pw.pw_uid)] * 4)
        self.assertEqual(st['Gid'], [str(pw.pw_gid)] * 4)
        self.assertNotIn('0', st.get('Groups', []))
        c = greet(self.d)
        c.envelope(('owned@example.org',), helo=None, pipelined=False)
        c.cmd('DATA')
        c.send(b'x\r\n.\r\n')
        c.expect(250)
        new = os.path.join(self.d.maildir_path('owned'), 'new')
        f = os.path.join(new, os.listdir(new)[0])
        self.assertEqual(os.stat(f).st_uid, pw.pw_uid)
        self.assertEqual(os.stat(self.d.spool).st_uid, pw.pw_uid)

    def test_accepted_message_is_on_disk_at_250(self):
        # The spool on a journal-less ext4 on a loop device. Right after the
        # 250, the image itself (read by debugfs, not through the mounted
        # filesystem's caches) must hold the name in new/, a file with one
        # link (a durable entry to an inode still counting 0 links is one
        # fsck deletes) and the whole message.
        for tool in ('mkfs.ext4', 'debugfs', 'mount'):
            if shutil.which(tool) is None:
                self.skipTest('%s not installed' % tool)
        self.d = Daemon()
        img = os.path.join(self.d.tmp, 'spool.img')
        with open(img, 'wb') as f:
            f.truncate(64 << 20)
        subprocess.run(['mkfs.ext4', '-q', '-F', '-O', '^has_journal', img],
                       check=True, capture_output=True)
        self.mnt = self.d.spool
        r = subprocess.run(['mount', '-o', 'loop', img, self.mnt], capture_output=True)
        if r.returncode != 0:
            self.mnt = None
            self.skipTest('cannot mount a loop device: %s' % r.stderr.decode().strip())
        self.d.start()
        body = b'Subject: durable\r\n\r\n' + b'every byte on disk\r\n' * 200
        c = greet(self.d)
        c.envelope(('durable@example.org',), helo=None, pipelined=False)
        c.cmd('DATA')
        c.send(body + b'.\r\n')
        c.expect(250)
        # What a power cut now would leave: the image as written so far.
        crash = os.path.join(self.d.tmp, 'crash.img')
        shutil.copyfile(img, crash)
        c.sock.close()

        def debugfs(request):
            return subprocess.run(['debugfs', '-R', request, crash], check=True,
                                  capture_output=True).stdout

        def stored():
            listing = debugfs('ls -p /example.org/durable/new').decode()
            names = [f.split('/')[5] for f in listing.splitlines()
                     if f.count('/') >= 6 and f.split('/')[5] not in ('.', '..')]
            self.assertEqual(len(names), 1, listing)
            return '/example.org/durable/new/' + names[0]

        path = stored()
        self.assertRegex(debugfs('stat ' + path).decode(), r'Links: 1\b')
        self.assertIn(body.replace(b'\r\n', b'\n'), debugfs('cat ' + path))
        # And the boot after it: fsck repairs what it must and keeps it.
        if shutil.which('e2fsck') is not None:
            r = subprocess.run(['e2fsck', '-fy', crash], capture_output=True)
            self.assertIn(r.returncode, (0, 1), r.stdout.decode())
            self.assertEqual(stored(), path)
            self.assertIn(body.replace(b'\r\n', b'\n'), debugfs('cat ' + path))

    def test_root_without_user_warns(self):
        self.d = start()
        self.assertIn('running as root', self.d.stderr())

    def test_disk_full_gets_452_and_no_partial_file(self):
        self.d = Daemon()
        self.mnt = self.d.spool
        r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', self.mnt],
                           capture_output=True)
        if r.returncode != 0:
            self.mnt = None
            self.skipTest('cannot mount tmpfs: %s' % r.stderr.decode().strip())
        self.d.start()
        c = greet(self.d)
        c.envelope(('full@example.org', 'full2@example.org'), helo=None, pipelined=False)
        c.cmd('DATA')
        c.send((b'z' * 998 + b'\r\n') * 600 + b'.\r\n')
        r = c.read_reply()
        self.assertEqual((r.code, r.enhanced), (452, '4.3.1'))
        self.assertEqual(all_new_files(self.d.spool), {})
        # The log names the copy that failed, its maildir and why.
        self.assertRegex(self.d.stderr(100000),
                         r'delivery failed mailbox="full2?@example\.org" '
                         r'path="%s/example\.org/full2?": No space left on device'
                         % re.escape(self.d.spool))
        for user in ('full', 'full2'):
            tmp = os.path.join(self.d.maildir_path(user), 'tmp')
            if os.path.isdir(tmp):
                self.assertEqual(os.listdir(tmp), [])
        # The same in BDAT chunks: each chunk is still read whole after the
        # write failed, so the session stays in step.
        c.envelope(('full@example.org',), helo=None, pipelined=False)
        for last in (b'', b'', b' LAST'):
            chunk = b'y' * 200000
            c.send(b'BDAT %d%s\r\n' % (len(chunk), last) + chunk)
            r = c.read_reply()
        self.assertEqual((r.code, r.enhanced), (452, '4.3.1'))
        self.assertEqual(all_new_files(self.d.spool), {})
        # a small message still fits afterwards
        c.envelope(('full@example.org',), helo=None, pipelined=False)
        c.cmd('DATA')
        c.send(b'small\r\n.\r\n')
        c.expect(250)


if __name__ == '__main__':
    unittest.main()
