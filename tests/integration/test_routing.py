"""
test_routing.py - what each stored copy says and where it goes:
Return-Path: and Delivered-To: are ours, a client's Return-Path: is
dropped, a Delivered-To: naming one of our mailboxes is a mail loop.
"""

import os
import signal
import time
import unittest

from harness import (DaemonTestCase, delivered_to, split_trace, run_smtpd,
                     Daemon)


class TraceHeaders(DaemonTestCase):

    def test_delivered_to_names_the_mailbox(self):
        r = self.send_raw(b'Subject: s\r\n\r\nx\r\n',
                          rcpts=('Alice@Example.org', 'bob+tag@example.org'))
        self.assertEqual(r.code, 250)
        self.assertEqual(delivered_to(self.assertOneMessage('alice')), 'alice@example.org')
        # Without recipient_delimiter, bob+tag is a mailbox of its own.
        self.assertEqual(delivered_to(self.assertOneMessage('bob+tag')),
                         'bob+tag@example.org')

    def test_client_return_path_is_dropped(self):
        body = (b'Return-Path: <forged@evil.test>\r\n'
                b'Subject: s\r\n'
                b'RETURN-PATH  : <folded@evil.test>\r\n'
                b'\tcontinued@evil.test\r\n'
                b'X-Kept: yes\r\n'
                b'\r\n'
                b'Return-Path: in the body stays\r\n')
        self.assertEqual(self.send_raw(body, rcpts=('carol@example.org',)).code, 250)
        raw = self.assertOneMessage('carol')
        rp, _, rest = split_trace(raw)
        self.assertEqual(rp, 'Return-Path: <a@x.test>')
        self.assertNotIn(b'evil.test', raw)
        self.assertEqual(rest, b'Subject: s\nX-Kept: yes\n\nReturn-Path: in the body stays\n')

    def test_return_path_dropped_across_chunks_and_copies(self):
        # BDAT chunks cut inside the header, two copies (headers written
        # to each file, not kept in the body buffer).
        c = self.raw()
        c.envelope(rcpts=('d1@example.org', 'd2@example.org'))
        msg = b'Subject: t\r\nReturn-Path: <x@evil.test>\r\nX-A: 1\r\n\r\nbody\r\n'
        cuts = [0, 5, 20, 21, len(msg)]
        for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
            last = b' LAST' if i == len(cuts) - 2 else b''
            c.send(b'BDAT %d%s\r\n' % (b - a, last) + msg[a:b])
            c.expect(250)
        for box in ('d1', 'd2'):
            rest = split_trace(self.assertOneMessage(box))[2]
            self.assertEqual(rest, b'Subject: t\nX-A: 1\n\nbody\n')

    def test_delivered_to_ours_is_a_loop(self):
        body = b'Delivered-To: Eve@Example.ORG\r\nSubject: loop\r\n\r\nagain\r\n'
        r = self.send_raw(body, rcpts=('frank@example.org', 'eve@example.org'))
        self.assertEqual((r.code, r.enhanced), (554, '5.4.6'), r)
        self.assertEqual(self.all_messages(), {})

    def test_delivered_to_elsewhere_is_kept(self):
        body = b'Delivered-To: someone@other.test\r\nSubject: fwd\r\n\r\nx\r\n'
        self.assertEqual(self.send_raw(body, rcpts=('gina@example.org',)).code, 250)
        rest = split_trace(self.assertOneMessage('gina'))[2]
        self.assertTrue(rest.startswith(b'Delivered-To: someone@other.test\n'), rest)

    def test_delivered_to_in_body_is_no_loop(self):
        body = b'Subject: quoted\r\n\r\nDelivered-To: hank@example.org\r\n'
        self.assertEqual(self.send_raw(body, rcpts=('hank@example.org',)).code, 250)


class Aliases(DaemonTestCase):
    """Aliases, fan-out, one copy per mailbox, catch-alls, postmaster."""

    extra_config = (
        'domain example.net',
        'mailbox alice@example.org',
        'mailbox bob@example.org',
        'mailbox admin@example.org',
        'recipient_delimiter +',
        'alias postmaster@example.org admin@example.org',
        'alias abuse@example.org postmaster@example.org, bob@example.org',
        'alias team@example.org alice@example.org bob@example.org',
        'alias team+ops@example.org admin@example.org',
        'alias @example.net admin@example.org',
        'alias alice@example.net alice@example.org',
    )

    def codes(self, rcpts):
        c = self.raw()
        c.envelope(rcpts=())
        return [c.cmd('RCPT TO:<%s>' % r) for r in rcpts]

    def test_lookup_order(self):
        r = self.codes(['team@example.org', 'team+x@example.org', 'team+ops@example.org',
                        'alice@example.org', 'carol@example.org', 'anything@example.net',
                        'postmaster@example.org', 'postmaster@example.net',
                        'x@elsewhere.test'])
        self.assertEqual([x.code for x in r], [250, 250, 250, 250, 550, 250, 250, 250, 550])
        self.assertEqual(r[4].enhanced, '5.1.1')
        self.assertEqual(r[8].enhanced, '5.7.1')

    def test_fan_out_and_one_copy_per_mailbox(self):
        # team reaches alice and bob; abuse reaches admin (via postmaster)
        # and bob again; alice directly too: one copy each.
        r = self.send_raw(b'Subject: fan\r\n\r\nhello\r\n',
                          rcpts=('team@example.org', 'abuse@example.org',
                                 'alice@example.org', 'Alice+tag@example.org'))
        self.assertEqual(r.code, 250)
        for box in ('alice', 'bob', 'admin'):
            raw = self.assertOneMessage(box)
            self.assertEqual(delivered_to(raw), '%s@example.org' % box)
            self.assertTrue(raw.endswith(b'\nhello\n'))
        self.assertEqual(len(self.all_messages()), 3)
        self.assertEqual(self.messages('team'), [])

    def test_received_names_the_recipient_as_sent(self):
        self.assertEqual(self.send_raw(b'Subject: a\r\n\r\nx\r\n',
                                       rcpts=('team+ops@example.org',)).code, 250)
        raw = self.assertOneMessage('admin')
        self.assertIn('for <team+ops@example.org>', split_trace(raw)[1])
        self.assertEqual(delivered_to(raw), 'admin@example.org')

    def test_catch_all(self):
        self.assertEqual(self.send_raw(b'Subject: c\r\n\r\nx\r\n',
                                       rcpts=('random123@example.net',
                                              'alice@example.net')).code, 250)
        self.assertEqual(delivered_to(self.assertOneMessage('admin')), 'admin@example.org')
        self.assertEqual(delivered_to(self.assertOneMessage('alice')), 'alice@example.org')
        # Made-up recipients make no directories of their own.
        self.assertFalse(os.path.exists(self.maildir_path('random123', 'example.net')))

    def test_loop_through_an_alias(self):
        body = b'Delivered-To: admin@example.org\r\nSubject: l\r\n\r\nx\r\n'
        r = self.send_raw(body, rcpts=('postmaster@example.org',))
        self.assertEqual((r.code, r.enhanced), (554, '5.4.6'))
        self.assertEqual(self.all_messages(), {})


class BrokenMailbox(DaemonTestCase):
    """A maildir smtpd cannot use defers its recipient at RCPT, only it;
    nothing is created to find that out."""

    def test_only_the_broken_recipient_is_deferred(self):
        box = self.maildir_path('broken')
        os.makedirs(os.path.join(box, 'tmp'))
        with open(os.path.join(box, 'new'), 'w') as f:
            f.write('not a directory')
        c = self.raw()
        c.envelope(rcpts=('fine@example.org',))
        r = c.cmd('RCPT TO:<broken@example.org>')
        self.assertEqual((r.code, r.enhanced), (451, '4.3.0'), r)
        self.assertEqual(c.cmd('RCPT TO:<also@example.org>').code, 250)
        c.send('DATA\r\n')
        c.expect(354)
        c.send(b'Subject: b\r\n\r\nx\r\n.\r\n')
        c.expect(250)
        self.assertOneMessage('fine')
        self.assertOneMessage('also')
        log = self.daemon.stderr(100000)
        self.assertRegex(log, r'rcpt="broken@example\.org" mailbox="broken@example\.org" '
                              r'path="[^"]*/example\.org/broken" unusable: new/ is not a '
                              r'directory')
        # Asking made nothing: an unknown but valid mailbox is still absent.
        c.envelope(rcpts=('later@example.org',), helo=None)
        self.assertFalse(os.path.exists(self.maildir_path('later')))


class ConfigFiles(DaemonTestCase):
    """include, and alias errors at file:line, through smtpd -n."""

    shared_daemon = False

    def write(self, d, name, text):
        p = os.path.join(d.tmp, name)
        with open(p, 'w') as f:
            f.write(text)
        return p

    def test_include_and_errors_name_the_file(self):
        d = Daemon(['include users/list.conf'])
        self.addCleanup(d.cleanup)
        os.mkdir(os.path.join(d.tmp, 'users'))
        self.write(d, 'users/list.conf', 'mailbox alice@example.org\ninclude more.conf\n')
        self.write(d, 'users/more.conf', '# more\nalias @example.org alice@example.org\n')
        r = run_smtpd(['-n', '-f', d.conf])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.write(d, 'users/more.conf', '# more\nalias x@example.org y@other.test\n')
        r = run_smtpd(['-n', '-f', d.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn(os.path.join(d.tmp, 'users/more.conf') + ':2: alias x@example.org: '
                      'target y@other.test', r.stderr.decode())
        os.unlink(os.path.join(d.tmp, 'users/more.conf'))
        r = run_smtpd(['-n', '-f', d.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn(os.path.join(d.tmp, 'users/list.conf') + ':2: include ', r.stderr.decode())
        self.write(d, 'users/more.conf', 'include more.conf\n')
        r = run_smtpd(['-n', '-f', d.conf])
        self.assertEqual(r.returncode, 1)
        self.assertIn('included more than 8 deep', r.stderr.decode())

    def test_directory_and_single_listen_error(self):
        r = run_smtpd(['-n', '-f', '/tmp'])
        self.assertEqual(r.returncode, 1)
        self.assertIn('/tmp: is a directory', r.stderr.decode())
        d = Daemon(['listen nonsense'], base=False)
        self.addCleanup(d.cleanup)
        with open(d.conf, 'a') as f:
            f.write('domain example.org\nmaildir %s/%%d/%%u\n' % d.spool)
        r = run_smtpd(['-n', '-f', d.conf])
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1)
        self.assertEqual(err.count(d.conf + ':'), 1, err)
        self.assertNotIn('no listen line', err)

    def test_sighup_reads_included_files_again(self):
        d = Daemon(['include aliases.conf'])
        self.addCleanup(d.cleanup)
        self.write(d, 'aliases.conf', 'alias sales@example.org alice@example.org\n')
        d.start()
        self.addCleanup(d.stop_and_check)
        from harness import RawClient
        c = RawClient(d.port)
        c.envelope(rcpts=('sales@example.org',))
        c.close()
        self.write(d, 'aliases.conf', 'alias sales@example.org bob@example.org\n')
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while 'reloaded' not in d.stderr():
            self.assertLess(time.monotonic(), deadline, d.stderr())
            time.sleep(0.02)
        c = RawClient(d.port)
        c.envelope(rcpts=('sales@example.org',))
        c.send('DATA\r\n')
        c.expect(354)
        c.send(b'Subject: s\r\n\r\nx\r\n.\r\n')
        c.expect(250)
        c.close()
        self.assertEqual(len(os.listdir(os.path.join(d.maildir_path('bob'), 'new'))), 1)


if __name__ == '__main__':
    unittest.main()
