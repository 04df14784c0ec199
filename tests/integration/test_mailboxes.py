"""
test_mailboxes.py - the directories smtpd makes in the spool: none left
behind for a transaction that stores nothing, the mailbox kept once a
copy is delivered, and the spool root checked at start-up and reload as
the user smtpd runs as (made only if missing, never given away).
"""

import os
import pwd
import signal
import subprocess
import time
import unittest

from harness import (Daemon, DaemonTestCase, RawClient, read_new, run_smtpd,
                     HELO, TEST_USER, make_test_user)

SETTLE = 5.0        # seconds for the daemon to notice a client gone


def tree(root):
    """Every directory below root (relative paths), root excluded."""
    out = set()
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            out.add(os.path.relpath(os.path.join(dirpath, d), root))
    return out


def wait_for(cond, timeout=SETTLE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def is_root():
    return os.geteuid() == 0


def served(d):
    """Wait until d greets a client: its signals are blocked by then (a
    SIGHUP sent between bind and that point would end it)."""
    RawClient(d.port).close()


class NothingStoredNothingMade(DaemonTestCase):
    """Recipients that get no message get no maildir."""

    RCPTS = tuple('ghost%02d@example.org' % i for i in range(50))

    def assertSpoolReturnsTo(self, before):
        self.assertTrue(wait_for(lambda: tree(self.spool) == before),
                        'left in the spool: %r' % sorted(tree(self.spool) - before))

    def test_partial_data_then_disconnect(self):
        before = tree(self.spool)
        c = self.raw()
        c.envelope(rcpts=self.RCPTS)
        c.send('DATA\r\n')
        c.expect(354)
        c.send(b'Subject: never finished\r\n\r\n' + b'x' * 1000 + b'\r\n')
        # The copies are being written now: their maildirs exist.
        self.assertTrue(wait_for(lambda: len(tree(self.spool)) > len(before)))
        c.close()
        self.assertSpoolReturnsTo(before)

    def test_three_sessions_vanish_mid_data(self):
        before = tree(self.spool)
        clients = []
        for n in range(3):
            c = self.raw()
            c.envelope(rcpts=tuple('s%d-%s' % (n, r) for r in self.RCPTS))
            c.send('DATA\r\n')
            c.expect(354)
            c.send(b'Subject: x\r\n\r\npartial\r\n')
            clients.append(c)
        for c in clients:
            c.close()
        self.assertSpoolReturnsTo(before)

    def test_bdat_chunk_then_rset(self):
        before = tree(self.spool)
        c = self.raw()
        c.envelope(rcpts=self.RCPTS)
        chunk = b'Subject: chunked\r\n\r\nfirst part\r\n'
        c.send(b'BDAT %d\r\n' % len(chunk) + chunk)
        c.expect(250)
        c.send('RSET\r\n')
        c.expect(250)
        self.assertSpoolReturnsTo(before)
        # The session goes on, and a message then delivered is kept.
        c.envelope(rcpts=('kept@example.org',), helo=None)
        c.send(b'BDAT 3 LAST\r\nok\n')
        c.expect(250)
        self.assertEqual(len(self.messages('kept')), 1)
        self.assertEqual(tree(self.spool) - before,
                         {'example.org', 'example.org/kept', 'example.org/kept/tmp',
                          'example.org/kept/new', 'example.org/kept/cur'})

    def test_delivered_maildir_is_kept(self):
        r = self.send_raw(b'Subject: s\r\n\r\nbody\r\n', rcpts=('alice@example.org',))
        self.assertEqual(r.code, 250)
        # And an aborted transaction to the same mailbox afterwards
        # leaves it, and its mail, alone.
        c = self.raw()
        c.envelope(rcpts=('alice@example.org', 'ghost@example.org'))
        c.send('DATA\r\n')
        c.expect(354)
        c.send(b'partial\r\n')
        c.close()
        self.assertTrue(wait_for(
            lambda: not os.path.exists(self.maildir_path('ghost'))))
        self.assertEqual(len(self.messages('alice')), 1)
        for sub in ('tmp', 'new', 'cur'):
            self.assertTrue(os.path.isdir(os.path.join(self.maildir_path('alice'), sub)))

    def test_concurrent_session_keeps_its_maildir(self):
        # Two sessions write to one new mailbox; the one that began it
        # vanishes; the other still delivers.
        a = self.raw()
        a.envelope(rcpts=('shared@example.org',))
        a.send('DATA\r\n')
        a.expect(354)
        a.send(b'partial\r\n')
        self.assertTrue(wait_for(
            lambda: os.path.isdir(os.path.join(self.maildir_path('shared'), 'new'))))
        b = self.raw()
        b.envelope(rcpts=('shared@example.org',))
        b.send('DATA\r\n')
        b.expect(354)
        b.send(b'Subject: second\r\n\r\nsecond\r\n')
        a.close()
        time.sleep(0.5)             # a's transaction is gone meanwhile
        b.send(b'.\r\n')
        b.expect(250)
        self.assertEqual(len(self.messages('shared')), 1)


class Folders(DaemonTestCase):
    """alice+work@ goes to alice/.work/ (Maildir++), made on demand."""

    extra_config = ('recipient_delimiter +', 'extension_folders yes')

    def test_folder_copy(self):
        r = self.send_raw(b'Subject: f\r\n\r\nfolder\r\n', rcpts=('alice+work@example.org',))
        self.assertEqual(r.code, 250)
        box = self.maildir_path('alice')
        self.assertEqual(len(read_new(os.path.join(box, '.work'))), 1)
        self.assertEqual(read_new(box), [])
        mark = os.path.join(box, '.work', 'maildirfolder')
        self.assertTrue(os.path.isfile(mark))
        self.assertEqual(os.path.getsize(mark), 0)

    def test_aborted_folder_copy_leaves_nothing(self):
        before = tree(self.spool)
        c = self.raw()
        c.envelope(rcpts=('bob+lists@example.org',))
        c.send('DATA\r\n')
        c.expect(354)
        c.send(b'partial\r\n')
        c.close()
        self.assertTrue(wait_for(lambda: tree(self.spool) == before),
                        sorted(tree(self.spool) - before))


# ---------------------------------------------------------------------------
# The spool root at start-up and reload
# ---------------------------------------------------------------------------

@unittest.skipUnless(is_root(), 'needs root: starts smtpd as root with a "user" line')
class SpoolRootAsRoot(unittest.TestCase):

    def setUp(self):
        self.pw = make_test_user()

    def daemon(self, extra=()):
        d = Daemon(['user ' + TEST_USER] + list(extra))
        self.addCleanup(d.cleanup)
        os.chmod(d.tmp, 0o755)      # the user may reach the spool
        return d

    def start_fails(self, d):
        r = run_smtpd(['-d', '-f', d.conf])
        self.assertEqual(r.returncode, 1, r.stderr.decode())
        return r.stderr.decode()

    def test_root_owned_by_another_user_refused_and_kept(self):
        nobody = pwd.getpwnam('nobody')
        d = self.daemon()
        os.chown(d.spool, nobody.pw_uid, nobody.pw_gid)
        os.chmod(d.spool, 0o755)
        err = self.start_fails(d)
        self.assertIn(d.spool, err)
        self.assertIn(TEST_USER, err)
        st = os.stat(d.spool)
        self.assertEqual((st.st_uid, st.st_gid), (nobody.pw_uid, nobody.pw_gid))
        self.assertEqual(st.st_mode & 0o7777, 0o755)

    def test_existing_root_owned_by_root_is_not_given_away(self):
        # /var/mail, a home directory: never chowned to the user.
        d = self.daemon()
        os.chown(d.spool, 0, 0)
        os.chmod(d.spool, 0o755)
        err = self.start_fails(d)
        self.assertIn(d.spool, err)
        self.assertIn(TEST_USER, err)
        self.assertEqual(os.stat(d.spool).st_uid, 0)

    def test_writable_existing_root_is_used_as_it_is(self):
        d = self.daemon()
        os.chown(d.spool, 0, self.pw.pw_gid)
        os.chmod(d.spool, 0o770)
        d.start()
        self.addCleanup(d.stop_and_check)
        st = os.stat(d.spool)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (0, 0o770))
        c = RawClient(d.port)
        self.addCleanup(c.close)
        c.envelope(rcpts=('alice@example.org',))
        c.send('DATA\r\nx\r\n.\r\n')
        c.expect(354)
        c.expect(250)
        self.assertEqual(len(read_new(d.maildir_path('alice'))), 1)

    def test_missing_root_is_made_for_the_user(self):
        d = self.daemon(['maildir {tmp}/made/spool/%d/%u'])
        root = os.path.join(d.tmp, 'made', 'spool')
        d.start()
        self.addCleanup(d.stop_and_check)
        st = os.stat(root)
        self.assertEqual((st.st_uid, st.st_gid), (self.pw.pw_uid, self.pw.pw_gid))
        self.assertEqual(os.stat(os.path.dirname(root)).st_uid, 0)
        # The parent it made lets the user through; mail is delivered.
        c = RawClient(d.port)
        self.addCleanup(c.close)
        c.envelope(rcpts=('alice@example.org',))
        c.send('DATA\r\nx\r\n.\r\n')
        c.expect(354)
        c.expect(250)
        self.assertEqual(len(read_new(os.path.join(root, 'example.org', 'alice'))), 1)

    def test_reload_to_unwritable_root_refused(self):
        d = self.daemon()
        os.chown(d.spool, self.pw.pw_uid, self.pw.pw_gid)
        d.start()
        self.addCleanup(d.stop_and_check)
        served(d)
        other = os.path.join(d.tmp, 'other')
        os.mkdir(other, 0o755)      # root's: the user cannot write it
        with open(d.conf) as f:
            conf = f.read()
        with open(d.conf, 'w') as f:
            f.write(conf.replace('maildir %s/' % d.spool, 'maildir %s/' % other))
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: 'reload failed' in d.stderr()), d.stderr())
        err = d.stderr()
        self.assertIn(other, err)
        self.assertIn(TEST_USER, err)
        self.assertNotIn('reloaded', err)
        # Still delivering into the old root.
        c = RawClient(d.port)
        self.addCleanup(c.close)
        c.envelope(rcpts=('alice@example.org',))
        c.send('DATA\r\nx\r\n.\r\n')
        c.expect(354)
        c.expect(250)
        self.assertEqual(len(read_new(d.maildir_path('alice'))), 1)
        self.assertEqual(os.listdir(other), [])


class SpoolRoot(unittest.TestCase):
    """The same checks for whoever runs the tests (no user switch)."""

    def test_root_that_cannot_be_made_fails_start(self):
        d = Daemon(['maildir {tmp}/file/spool/%d/%u'])
        self.addCleanup(d.cleanup)
        open(os.path.join(d.tmp, 'file'), 'w').close()
        r = run_smtpd(['-d', '-f', d.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn(os.path.join(d.tmp, 'file', 'spool'), r.stderr.decode())

    @unittest.skipIf(is_root(), 'root may write anywhere: SpoolRootAsRoot checks '
                     'an unwritable root as a created user')
    def test_unwritable_root_fails_start(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        os.chmod(d.spool, 0o555)
        self.addCleanup(os.chmod, d.spool, 0o755)
        r = run_smtpd(['-d', '-f', d.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn(d.spool, r.stderr.decode())

    def test_reload_to_root_that_cannot_be_made_refused(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        d.start()
        self.addCleanup(d.stop_and_check)
        served(d)
        open(os.path.join(d.tmp, 'file'), 'w').close()
        bad = os.path.join(d.tmp, 'file', 'spool')
        with open(d.conf) as f:
            conf = f.read()
        with open(d.conf, 'w') as f:
            f.write(conf.replace('maildir %s/' % d.spool, 'maildir %s/' % bad))
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: 'reload failed' in d.stderr()), d.stderr())
        self.assertIn(bad, d.stderr())
        c = RawClient(d.port)
        self.addCleanup(c.close)
        c.envelope(rcpts=('alice@example.org',))
        c.send('DATA\r\nx\r\n.\r\n')
        c.expect(354)
        c.expect(250)
        self.assertEqual(len(read_new(d.maildir_path('alice'))), 1)


if __name__ == '__main__':
    unittest.main()
