"""SMTP smuggling and bare CR / bare LF handling inside DATA."""

import time
import unittest

from harness import DaemonTestCase, body_of

# Fake end-of-data markers that a sloppy server might accept.
FAKE_TERMINATORS = [
    b'\n.\n',
    b'\n.\r\n',
    b'\r\n.\n',
    b'\r.\r\n',
    b'\r\n.\r',
    b'\r.\r',
]

SMUGGLED = (b'MAIL FROM:<evil@x>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n'
            b'smuggled\r\n.\r\n')


def payload(fake):
    return b'Subject: x\r\n\r\nhello' + fake + SMUGGLED


class SmugglingBase(DaemonTestCase):
    expected_code = None     # reply to the (real) end of data

    def smuggle(self, fake, mode):
        """Run one attempt; returns the list of replies after DATA's 354."""
        self.daemon.clear_spool()
        c = self.raw()
        c.envelope(rcpts=('real@example.org',), pipelined=False)
        c.send('DATA\r\n')
        c.expect(354)
        data = payload(fake)
        if mode == 'whole':
            c.send(data)
        elif mode == 'split':
            cut = data.index(fake) + len(fake)
            c.send(data[:cut])
            time.sleep(0.05)
            c.send(data[cut:])
        else:
            for i in range(len(data)):
                c.send(data[i:i + 1])
        time.sleep(0.05)
        c.send('QUIT\r\n')
        c.settimeout(5)
        replies = c.replies_until_close()
        c.close()
        return replies

    def check_common(self, fake, mode, replies):
        what = '%r/%s' % (fake, mode)
        codes = [r.code for r in replies]
        self.assertEqual(codes, [self.expected_code, 221],
                         '%s: replies after DATA: %r' % (what, replies))
        self.assertEqual(self.messages('victim'), [], what)
        for path, raw in self.all_messages().items():
            body = body_of(raw)
            self.assertNotEqual(body.strip(), b'smuggled', '%s: %s' % (what, path))
            self.assertFalse(body.startswith(b'smuggled'), '%s: %s' % (what, path))

    def run_variants(self, modes):
        for fake in FAKE_TERMINATORS:
            for mode in modes:
                with self.subTest(fake=fake, mode=mode):
                    replies = self.smuggle(fake, mode)
                    self.check_common(fake, mode, replies)
                    self.check_delivered(fake, mode)


class SmugglingReject(SmugglingBase):
    """Default bare_newline reject: nothing is delivered."""
    expected_code = 550

    def check_delivered(self, fake, mode):
        self.assertEqual(self.all_messages(), {}, '%r/%s' % (fake, mode))

    def test_one_packet(self):
        self.run_variants(['whole'])

    def test_split_at_fake_terminator(self):
        self.run_variants(['split'])

    def test_byte_at_a_time(self):
        for fake in (b'\n.\r\n', b'\r\n.\r'):
            with self.subTest(fake=fake):
                replies = self.smuggle(fake, 'bytes')
                self.check_common(fake, 'bytes', replies)
                self.check_delivered(fake, 'bytes')

    def test_reply_is_5_5_2(self):
        replies = self.smuggle(b'\n.\n', 'whole')
        self.assertEqual(replies[0].code, 550, replies)
        self.assertEqual(replies[0].enhanced, '5.5.2', replies)


class SmugglingKeep(SmugglingBase):
    """bare_newline keep: exactly one message, containing the fake commands."""
    extra_config = ['bare_newline keep']
    expected_code = 250

    def check_delivered(self, fake, mode):
        files = self.all_messages()
        self.assertEqual(len(files), 1, '%r/%s: %r' % (fake, mode, sorted(files)))
        body = body_of(self.assertOneMessage('real'))
        self.assertTrue(body.startswith(b'Subject: x\n\nhello'), body)
        self.assertIn(b'MAIL FROM:<evil@x>', body)
        self.assertIn(b'smuggled', body)

    def test_one_packet(self):
        self.run_variants(['whole'])

    def test_split_at_fake_terminator(self):
        self.run_variants(['split'])


class BareNewlineReject(DaemonTestCase):

    def test_bare_lf_rejected(self):
        r = self.send_raw(b'Subject: lf\r\n\r\na\nb\r\n')
        self.assertEqual((r.code, r.enhanced), (550, '5.5.2'), r)
        self.assertEqual(self.all_messages(), {})

    def test_bare_cr_rejected(self):
        r = self.send_raw(b'Subject: cr\r\n\r\na\rb\r\n')
        self.assertEqual((r.code, r.enhanced), (550, '5.5.2'), r)
        self.assertEqual(self.all_messages(), {})

    def test_bare_lf_in_header_rejected(self):
        r = self.send_raw(b'Subject: lf\nX-Other: y\r\n\r\nbody\r\n')
        self.assertEqual(r.code, 550, r)
        self.assertEqual(self.all_messages(), {})

    def test_session_usable_after_reject(self):
        c = self.raw()
        c.ehlo()
        r = self.send_raw(b'a\nb\r\n', client=c)
        self.assertEqual(r.code, 550, r)
        r = self.send_raw(b'clean\r\n', client=c)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(body_of(self.assertOneMessage('user')), b'clean\n')

    def test_bare_lf_does_not_end_data(self):
        c = self.raw()
        c.start_data()
        c.send(b'hello\n.\n')
        self.assertTrue(c.nothing_pending(0.4), 'server replied after LF.LF')
        c.send(b'more\r\n.\r\n')
        c.expect(550, '5.5.2')

    def test_cr_dot_cr_does_not_end_data(self):
        c = self.raw()
        c.start_data()
        c.send(b'hello\r\n.\r')
        self.assertTrue(c.nothing_pending(0.4), 'server replied after CRLF.CR')
        c.send(b'X\r\n.\r\n')
        r = c.read_reply()
        self.assertEqual(r.code, 550, r)

    def test_crlf_split_across_packets_is_clean(self):
        c = self.raw()
        c.start_data()
        for part in (b'line one\r', b'\nline two\r', b'\n.', b'.dot\r', b'\n.\r', b'\n'):
            c.send(part)
            time.sleep(0.05)
        c.expect(250, '2.0.0')
        self.assertEqual(body_of(self.assertOneMessage('user')),
                         b'line one\nline two\n.dot\n')


class BareNewlineKeep(DaemonTestCase):
    extra_config = ['bare_newline keep']

    def test_bare_lf_kept(self):
        r = self.send_raw(b'Subject: lf\r\n\r\na\nb\r\n')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(body_of(self.assertOneMessage('user')), b'Subject: lf\n\na\nb\n')

    def test_bare_cr_kept(self):
        r = self.send_raw(b'Subject: cr\r\n\r\na\rb\r\n')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(body_of(self.assertOneMessage('user')), b'Subject: cr\n\na\rb\n')

    def test_bare_lf_dot_does_not_end_data(self):
        c = self.raw()
        c.start_data()
        c.send(b'hello\n.\n')
        self.assertTrue(c.nothing_pending(0.4), 'server replied after LF.LF')
        c.send(b'more\r\n.\r\n')
        c.expect(250, '2.0.0')
        body = body_of(self.assertOneMessage('user'))
        self.assertTrue(body.startswith(b'hello\n'), body)
        self.assertTrue(body.endswith(b'more\n'), body)


if __name__ == '__main__':
    unittest.main()
