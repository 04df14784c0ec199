"""
test_mailboxes.py - the directories smtpd makes in the spool: none left
behind for a transaction that stores nothing, the mailbox kept once a
copy is delivered, Maildir++ folders.
"""

import os
import time
import unittest

from harness import Daemon, DaemonTestCase, read_new, run_smtpd

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


def folders_supported():
    """The configuration keywords for folders are there (config.c)."""
    d = Daemon(['recipient_delimiter +', 'extension_folders yes'])
    try:
        return run_smtpd(['-n', '-f', d.conf]).returncode == 0
    finally:
        d.cleanup()


class Folders(DaemonTestCase):
    """alice+work@ goes to alice/.work/ (Maildir++), made on demand."""

    extra_config = ()

    @classmethod
    def setUpClass(cls):
        if not folders_supported():
            raise unittest.SkipTest('extension_folders not in this build\'s config')
        cls.extra_config = ('recipient_delimiter +', 'extension_folders yes')
        super().setUpClass()

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


if __name__ == '__main__':
    unittest.main()
