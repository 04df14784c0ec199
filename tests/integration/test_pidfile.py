"""
test_pidfile.py - the -p pid file: written while root, holding the
daemon's pid, and gone after the daemon exits, also when the daemon runs
as an unprivileged user and the file lives in a directory only root may
write (/run), and also when the daemon is killed (-9).

Starting smtpd with a "user" line needs root (CI runs as root): those
tests skip otherwise, the rest run for everyone.
"""

import os
import pwd
import signal
import subprocess
import time
import unittest

from harness import (Daemon, RawClient, HELO, SANITIZER_RE, _listening,
                     read_new, require_bin, TEST_USER, make_test_user)

WAIT = 5.0


def wait_for(cond, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    return cond()


def children_named(ppid, comm):
    """Pids of ppid's children whose /proc comm is comm."""
    out = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                data = f.read()
        except OSError:
            continue
        head, tail = data.rsplit(')', 1)
        fields = tail.split()
        if head.split('(', 1)[1] == comm and int(fields[1]) == ppid \
                and fields[0] not in ('Z', 'X'):
            out.append(int(name))
    return out


class PidFile(unittest.TestCase):

    def start(self, user):
        extra = ['maildir {tmp}/mail/%d/%u']
        if user:
            extra.append('user ' + TEST_USER)
        d = Daemon(extra)
        self.addCleanup(d.cleanup)
        # A root-owned directory nobody else may write: like /run.
        os.chmod(d.tmp, 0o755)
        self.rundir = os.path.join(d.tmp, 'run')
        os.mkdir(self.rundir, 0o755)
        self.pidfile = os.path.join(self.rundir, 'smtpd.pid')
        d._err = open(d.errlog, 'wb')
        d.proc = subprocess.Popen([require_bin(), '-d', '-f', d.conf, '-p', self.pidfile],
                                  stdin=subprocess.DEVNULL, stdout=d._err,
                                  stderr=d._err)
        # Listening comes first, then the pid file, then "started".
        if not wait_for(lambda: (_listening(d.port) and self.pid_written())
                        or not d.alive()) or not d.alive():
            self.fail('smtpd did not start:\n' + d.stderr())
        self.assertEqual(self.pid_written(), '%d\n' % d.proc.pid)
        st = os.stat(self.pidfile)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (0, 0o644))
        return d

    def pid_written(self):
        try:
            with open(self.pidfile) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        return text if text.endswith('\n') else None

    def deliver(self, d):
        c = RawClient(d.port)
        self.addCleanup(c.close)
        c.envelope(rcpts=('alice@example.org',))
        c.send('DATA\r\npid file test\r\n.\r\n')
        c.expect(354)
        c.expect(250)
        c.cmd('QUIT')
        self.assertEqual(len(read_new(os.path.join(d.tmp, 'mail', 'example.org',
                                                   'alice'))), 1)

    def stop(self, d):
        d.proc.send_signal(signal.SIGTERM)
        rc = d.proc.wait(WAIT)
        d._err.close()
        err = d.stderr(100000)
        self.assertEqual(rc, 0, err)
        self.assertNotRegex(err, SANITIZER_RE)
        self.assertIn('stopped', err)
        return err

    @unittest.skipUnless(os.geteuid() == 0, 'needs root: smtpd drops privileges')
    def test_removed_after_dropping_privileges(self):
        pw = make_test_user()
        d = self.start(user=True)
        # The pid file is written just before privileges are dropped.
        self.assertTrue(wait_for(lambda: os.stat('/proc/%d' % d.proc.pid).st_uid
                                 == pw.pw_uid), 'smtpd did not become ' + TEST_USER)
        self.deliver(d)
        err = self.stop(d)
        # Removed before the daemon exited: nothing to wait for.
        self.assertFalse(os.path.exists(self.pidfile),
                         'pid file left behind:\n' + err)
        self.assertNotIn('pid file', err)
        self.assertEqual(os.listdir(self.rundir), [])

    @unittest.skipUnless(os.geteuid() == 0, 'needs root: smtpd drops privileges')
    def test_remover_holds_nothing_and_outlives_a_kill(self):
        make_test_user()
        d = self.start(user=True)
        # Named once it has closed everything else (pidfile.c).
        removers = wait_for(lambda: children_named(d.proc.pid, 'smtpd-pidfile'))
        self.assertEqual(len(removers), 1, 'no pid file remover beside the daemon')
        r = removers[0]
        self.assertEqual(os.stat('/proc/%d' % r).st_uid, 0)
        # Only /dev/null and its pipe: no listening socket, no spool.
        fds = {int(n): os.readlink('/proc/%d/fd/%s' % (r, n))
               for n in os.listdir('/proc/%d/fd' % r)}
        self.assertEqual({fds[n] for n in (0, 1, 2)}, {'/dev/null'}, fds)
        others = [v for n, v in fds.items() if n > 2]
        self.assertEqual(len(others), 1, fds)
        self.assertTrue(others[0].startswith('pipe:'), fds)
        # A signal to the whole process group stops the daemon, not it.
        os.kill(r, signal.SIGTERM)
        os.kill(r, signal.SIGHUP)
        self.assertTrue(os.path.exists('/proc/%d' % r))
        d.kill()
        d._err.close()
        self.assertTrue(wait_for(lambda: not os.path.exists(self.pidfile)),
                        'pid file of a killed daemon left behind')
        self.assertFalse(_listening(d.port))

    def test_removed_without_a_user(self):
        d = self.start(user=False)
        self.assertEqual(children_named(d.proc.pid, 'smtpd-pidfile'), [],
                         'a remover although the daemon keeps its user')
        self.deliver(d)
        err = self.stop(d)
        self.assertFalse(os.path.exists(self.pidfile), err)
        self.assertNotIn('pid file', err)


if __name__ == '__main__':
    unittest.main()
