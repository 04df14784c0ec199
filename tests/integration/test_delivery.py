"""What lands in the maildirs: trace headers, body bytes, paths."""

import datetime
import email.utils
import os
import random
import re
import time
import unittest

from harness import DaemonTestCase, body_of, split_trace, to_stored


RECEIVED_RE = re.compile(
    r'^Received: from client\.test \(\[127\.0\.0\.1\]\) by mx\.test\b.*?'
    r' with ESMTP\S* id (?P<id>\S+) for <(?P<rcpt>[^>]*)>; (?P<date>.+)$')


class Delivery(DaemonTestCase):

    def test_simple_message(self):
        wire = b'From: a@x.test\r\nTo: user@example.org\r\nSubject: hi\r\n\r\nHello, world.\r\n'
        r = self.send_raw(wire)
        self.assertEqual(r.code, 250, r)
        raw = self.assertOneMessage('user')
        self.assertEqual(body_of(raw), to_stored(wire))
        self.assertEqual(body_of(raw),
                         b'From: a@x.test\nTo: user@example.org\nSubject: hi\n\nHello, world.\n')

    def test_return_path(self):
        self.send_raw(b'x\r\n', mail_from='Sender@X.Test')
        rp, _, _ = split_trace(self.assertOneMessage('user'))
        self.assertEqual(rp, 'Return-Path: <Sender@X.Test>')

    def test_null_sender_return_path(self):
        r = self.send_raw(b'x\r\n', mail_from='')
        self.assertEqual(r.code, 250, r)
        rp, _, _ = split_trace(self.assertOneMessage('user'))
        self.assertEqual(rp, 'Return-Path: <>')

    def test_quoted_sender_return_path(self):
        self.send_raw(b'x\r\n', mail_from='"a b"@x.test')
        rp, _, _ = split_trace(self.assertOneMessage('user'))
        self.assertEqual(rp, 'Return-Path: <"a b"@x.test>')

    def test_received_with_address_literal_helo(self):
        c = self.raw()
        c.ehlo('[127.0.0.1]')
        self.send_raw(b'x\r\n', client=c)
        _, rec, _ = split_trace(self.assertOneMessage('user'))
        self.assertTrue(rec.startswith('Received: from [127.0.0.1] ([127.0.0.1]) by mx.test'), rec)

    def test_received_header(self):
        self.send_raw(b'x\r\n')
        _, rec, _ = split_trace(self.assertOneMessage('user'))
        m = RECEIVED_RE.match(rec)
        self.assertIsNotNone(m, 'bad Received header: %r' % rec)
        self.assertEqual(m.group('rcpt'), 'user@example.org')
        when = email.utils.parsedate_to_datetime(m.group('date').strip())
        self.assertIsNotNone(when.tzinfo, 'date without zone: %r' % rec)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((now - when).total_seconds()), 300, rec)

    def test_trace_header_lines_are_sane(self):
        self.send_raw(b'Subject: s\r\n\r\nx\r\n')
        raw = self.assertOneMessage('user')
        lines = raw.split(b'\n')
        self.assertTrue(lines[0].startswith(b'Return-Path: <'), lines[0])
        self.assertEqual(lines[1], b'Delivered-To: user@example.org')
        self.assertTrue(lines[2].startswith(b'Received: from '), lines[2])
        i = 3
        while lines[i][:1] in (b' ', b'\t'):
            self.assertTrue(lines[i].strip(), 'empty continuation line')
            i += 1
        self.assertEqual(lines[i], b'Subject: s')
        for l in lines[:i]:
            self.assertLessEqual(len(l), 998)
            self.assertNotIn(b'\r', l)

    def test_dot_unstuffing(self):
        wire = (b'Subject: dots\r\n\r\n..leading dot\r\n..\r\n...\r\n'
                b'middle . dot\r\n.. two\r\nend\r\n')
        self.send_raw(wire)
        self.assertEqual(body_of(self.assertOneMessage('user')),
                         b'Subject: dots\n\n.leading dot\n.\n..\nmiddle . dot\n. two\nend\n')

    def test_empty_message(self):
        r = self.send_raw(b'')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(body_of(self.assertOneMessage('user')), b'')

    def test_no_trailing_newline_added_or_lost(self):
        wire = b'Subject: t\r\n\r\nlast line\r\n\r\n\r\n'
        self.send_raw(wire)
        self.assertEqual(body_of(self.assertOneMessage('user')),
                         b'Subject: t\n\nlast line\n\n\n')

    def test_8bit_bytes_kept(self):
        octets = bytes(b for b in range(128, 256))
        wire = b'Subject: 8bit\r\n\r\n' + octets + b'\r\n' + 'h\u00e9llo w\u00f6rld'.encode() + b'\r\n'
        r = self.send_raw(wire, mail_params=' BODY=8BITMIME')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(body_of(self.assertOneMessage('user')), to_stored(wire))

    def test_control_bytes_kept(self):
        octets = bytes(b for b in range(0, 32) if b not in (10, 13)) + b'\x7f'
        wire = b'Subject: ctl\r\n\r\n' + octets + b'\r\n'
        r = self.send_raw(wire)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(body_of(self.assertOneMessage('user')), to_stored(wire))

    def test_long_line_kept(self):
        line = bytes((65 + i % 26) for i in range(5000))
        wire = b'Subject: long\r\n\r\n' + line + b'\r\n' + b'.' + line + b'\r\n'
        # the second line starts with a dot on the wire only after stuffing
        wire = wire.replace(b'\r\n.', b'\r\n..')
        self.send_raw(wire)
        self.assertEqual(body_of(self.assertOneMessage('user')),
                         b'Subject: long\n\n' + line + b'\n.' + line + b'\n')

    def test_large_message(self):
        lines = [b'line %06d %s' % (i, b'z' * 60) for i in range(20000)]
        wire = b'Subject: big\r\n\r\n' + b'\r\n'.join(lines) + b'\r\n'
        r = self.send_raw(wire)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(body_of(self.assertOneMessage('user')), to_stored(wire))

    def test_large_bodies_to_several_recipients_byte_for_byte(self):
        # Bodies of several buffers' worth, decoded in place and written to
        # every copy: lines of every length, dot lines, 8-bit bytes.
        rnd = random.Random(5321)
        lines = []
        while sum(len(l) + 2 for l in lines) < 300000:
            n = rnd.choice((0, 1, 2, 77, 998, rnd.randrange(5000)))
            line = bytes(rnd.choice(b'.abc \x80\xff\t') for _ in range(n))
            lines.append(line)
        text = b'Subject: big\r\n\r\n' + b'\r\n'.join(lines) + b'\r\n'
        stuffed = text.replace(b'\r\n.', b'\r\n..')
        stored = text.replace(b'\r\n', b'\n')
        rcpts = ('big1@example.org', 'big2@example.org', 'big3@example.org')
        r = self.send_raw(stuffed, rcpts=rcpts)
        self.assertEqual(r.code, 250, r)
        for rc in rcpts:
            self.assertEqual(body_of(self.assertOneMessage(rc.split('@')[0])), stored)
        # BDAT: chunks cut anywhere, a CRLF split between two of them.
        c = self.raw()
        c.envelope(rcpts=('chunk1@example.org', 'chunk2@example.org'), pipelined=False)
        cuts = [0, 65535, 65536, 65537 + 70001, text.index(b'\r\n', 200000) + 1,
                len(text)]
        for a, b in zip(cuts, cuts[1:]):
            last = b' LAST' if b == len(text) else b''
            c.send(b'BDAT %d%s\r\n' % (b - a, last) + text[a:b])
            c.expect(250)
        for rc in ('chunk1', 'chunk2'):
            self.assertEqual(body_of(self.assertOneMessage(rc)), stored)

    def test_byte_at_a_time(self):
        c = self.raw()
        c.start_data()
        wire = b'Subject: slow\r\n\r\n..dot\r\n.\r\n'
        for i in range(len(wire)):
            c.send(wire[i:i + 1])
        c.expect(250, '2.0.0')
        self.assertEqual(body_of(self.assertOneMessage('user')),
                         b'Subject: slow\n\n.dot\n')

    def test_multiple_recipients_one_copy_each(self):
        rcpts = ('alice@example.org', 'bob@example.org', 'carol@example.org')
        wire = b'Subject: multi\r\n\r\nfor all\r\n'
        r = self.send_raw(wire, rcpts=rcpts)
        self.assertEqual(r.code, 250, r)
        for rc in rcpts:
            raw = self.assertOneMessage(rc.split('@')[0])
            self.assertEqual(body_of(raw), to_stored(wire))
        self.assertEqual(len(self.all_messages()), 3)

    def test_each_copy_names_its_recipient(self):
        rcpts = ('alice@example.org', 'bob@example.org')
        self.send_raw(b'x\r\n', rcpts=rcpts)
        for rc in rcpts:
            _, rec, _ = split_trace(self.assertOneMessage(rc.split('@')[0]))
            m = RECEIVED_RE.match(rec)
            self.assertIsNotNone(m, rec)
            self.assertEqual(m.group('rcpt'), rc)

    def test_duplicate_recipient(self):
        r = self.send_raw(b'x\r\n', rcpts=('user@example.org', 'user@example.org'))
        self.assertEqual(r.code, 250, r)
        self.assertIn(len(self.messages('user')), (1, 2))

    def test_multiple_transactions_one_session(self):
        c = self.raw()
        c.ehlo()
        for i in range(3):
            r = self.send_raw(b'Subject: n%d\r\n\r\nbody %d\r\n' % (i, i),
                              rcpts=('u%d@example.org' % i,), client=c)
            self.assertEqual(r.code, 250, r)
        c.send('QUIT\r\n')
        c.expect(221)
        for i in range(3):
            self.assertEqual(body_of(self.assertOneMessage('u%d' % i)),
                             b'Subject: n%d\n\nbody %d\n' % (i, i))

    def test_transaction_after_rset(self):
        c = self.raw()
        c.envelope(rcpts=('wrong@example.org',), pipelined=False)
        c.send('RSET\r\n')
        c.expect(250)
        r = self.send_raw(b'x\r\n', rcpts=('right@example.org',), client=c)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(self.messages('wrong'), [])
        self.assertOneMessage('right')

    def test_domain_case_insensitive_path(self):
        r = self.send_raw(b'x\r\n', rcpts=('User@EXAMPLE.ORG',))
        self.assertEqual(r.code, 250, r)
        self.assertTrue(os.path.isdir(os.path.join(self.spool, 'example.org', 'user', 'new')),
                        sorted(self.all_messages()))
        self.assertOneMessage('user')

    def test_maildir_subdirs_created(self):
        self.send_raw(b'x\r\n')
        for sub in ('tmp', 'new', 'cur'):
            self.assertTrue(os.path.isdir(os.path.join(self.maildir_path('user'), sub)), sub)
        md = self.maildir('user')
        self.assertEqual(len(md.keys()), 1)
        # tmp/ is left empty after delivery
        self.assertEqual(os.listdir(os.path.join(self.maildir_path('user'), 'tmp')), [])

    def test_idle_mailbox_directories_are_closed(self):
        # Kept open for the next message, then let go within seconds:
        # an idle daemon holds no mailbox (nor keeps the spool busy).
        def open_in_mailbox():
            box = self.maildir_path('idle') + os.sep
            return [t for t in self.daemon.open_files().values() if t.startswith(box)]
        self.send_raw(b'x\r\n', rcpts=('idle@example.org',))
        self.assertTrue(open_in_mailbox())
        deadline = time.monotonic() + 15
        while open_in_mailbox() and time.monotonic() < deadline:
            time.sleep(0.25)
        self.assertEqual(open_in_mailbox(), [])
        self.assertEqual(len(self.maildir('idle').keys()), 1)

    def test_maildir_file_name_is_unique(self):
        for _ in range(5):
            self.send_raw(b'x\r\n')
        names = os.listdir(os.path.join(self.maildir_path('user'), 'new'))
        self.assertEqual(len(names), 5)
        for n in names:
            self.assertNotIn('/', n)
            self.assertFalse(n.startswith('.'), n)

    def test_source_route_ignored(self):
        r = self.send_raw(b'x\r\n', mail_from='@a.example,@b.example:a@x.test',
                          rcpts=('@a.example,@b.example:user@example.org',))
        self.assertEqual(r.code, 250, r)
        self.assertOneMessage('user')
        self.assertEqual(len(self.all_messages()), 1)

    def test_quoted_local_part(self):
        r = self.send_raw(b'x\r\n', rcpts=('"john doe"@example.org',))
        self.assertEqual(r.code, 250, r)
        self.assertEqual(body_of(self.assertOneMessage('john doe')), b'x\n')

    def test_postmaster_without_domain_delivered(self):
        r = self.send_raw(b'to pm\r\n', rcpts=('postmaster',))
        self.assertEqual(r.code, 250, r)
        files = self.all_messages()
        self.assertEqual(len(files), 1, files)
        self.assertEqual(body_of(list(files.values())[0]), b'to pm\n')

    def test_unsafe_local_parts_touch_nothing(self):
        c = self.raw()
        c.envelope(rcpts=(), pipelined=False)
        for local in ('".hidden"', '"a/b"', '"../../etc/x"', '"../x"'):
            c.send('RCPT TO:<%s@example.org>\r\n' % local)
            c.expect(550, '5.1.3')
        c.send('RCPT TO:<user@example.org>\r\n')
        c.expect(250)
        c.send('DATA\r\n')
        c.expect(354)
        c.send('x\r\n.\r\n')
        c.expect(250)
        self.assertEqual(sorted(os.listdir(self.daemon.tmp)),
                         ['smtpd.conf', 'spool', 'stderr.log'])
        self.assertEqual(os.listdir(self.spool), ['example.org'])
        self.assertEqual(os.listdir(os.path.join(self.spool, 'example.org')), ['user'])

    def test_local_part_case_folded(self):
        self.send_raw(b'x\r\n', rcpts=('MixedCase@example.org',))
        self.assertTrue(os.path.isdir(os.path.join(self.spool, 'example.org', 'mixedcase')))


class Concurrency(DaemonTestCase):

    def test_parallel_clients_same_mailbox(self):
        import smtplib
        import threading
        errors = []

        def client(n):
            try:
                s = smtplib.SMTP('127.0.0.1', self.port, local_hostname='client.test',
                                 timeout=10)
                for i in range(5):
                    s.sendmail('a@x.test', ['user@example.org', 'c%d@example.org' % n],
                               'Subject: %d.%d\n\nclient %d message %d\n' % (n, i, n, i))
                s.quit()
            except Exception as e:          # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])
        bodies = sorted(body_of(m) for m in self.messages('user'))
        self.assertEqual(bodies, sorted(b'Subject: %d.%d\n\nclient %d message %d\n'
                                        % (n, i, n, i) for n in range(10) for i in range(5)))
        for n in range(10):
            self.assertEqual(len(self.messages('c%d' % n)), 5)

    def test_hundred_recipients(self):
        rcpts = ['r%03d@example.org' % i for i in range(100)]
        r = self.send_raw(b'Subject: many\r\n\r\nx\r\n', rcpts=rcpts)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(len(self.all_messages()), 100)


class Utf8Addresses(DaemonTestCase):

    def test_smtputf8_local_part(self):
        c = self.raw()
        c.ehlo()
        r = self.send_raw(b'Subject: u\r\n\r\nx\r\n', client=c,
                          rcpts=('j\u00fcrgen@example.org',), mail_params=' SMTPUTF8')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(body_of(self.assertOneMessage('j\u00fcrgen')), b'Subject: u\n\nx\n')


class SharedMaildir(DaemonTestCase):
    extra_config = ['domain example.net', 'maildir {tmp}/spool/shared']

    def test_all_recipients_share_one_maildir(self):
        r = self.send_raw(b'x\r\n', rcpts=('a@example.org', 'b@example.org', 'c@example.net'))
        self.assertEqual(r.code, 250, r)
        files = self.all_messages()
        self.assertEqual(len(files), 3, files)
        for p in files:
            self.assertTrue(p.startswith(os.path.join(self.spool, 'shared', 'new') + os.sep), p)


class MultipleDomains(DaemonTestCase):
    extra_config = ['domain Example.NET']

    def test_second_domain(self):
        r = self.send_raw(b'x\r\n', rcpts=('user@example.net', 'user@EXAMPLE.org'))
        self.assertEqual(r.code, 250, r)
        self.assertOneMessage('user', 'example.net')
        self.assertOneMessage('user', 'example.org')


class RecipientDelimiter(DaemonTestCase):
    extra_config = ['recipient_delimiter +']

    def test_extension_goes_to_base_mailbox(self):
        r = self.send_raw(b'x\r\n', rcpts=('alice+lists@example.org',))
        self.assertEqual(r.code, 250, r)
        self.assertOneMessage('alice')
        self.assertEqual(sorted(os.listdir(os.path.join(self.spool, 'example.org'))), ['alice'])

    def test_without_extension(self):
        self.send_raw(b'x\r\n', rcpts=('alice@example.org',))
        self.assertOneMessage('alice')


class MailboxList(DaemonTestCase):
    extra_config = ['mailbox alice@example.org', 'domain example.net']

    def rcpt(self, addr):
        c = self.raw()
        c.envelope(rcpts=(), pipelined=False)
        return c.cmd('RCPT TO:<%s>' % addr)

    def test_listed_mailbox_accepted(self):
        r = self.rcpt('alice@example.org')
        self.assertEqual((r.code, r.enhanced), (250, '2.1.5'), r)

    def test_listed_mailbox_any_case(self):
        r = self.rcpt('Alice@Example.ORG')
        self.assertEqual(r.code, 250, r)

    def test_unlisted_mailbox_rejected(self):
        r = self.rcpt('bob@example.org')
        self.assertEqual((r.code, r.enhanced), (550, '5.1.1'), r)

    def test_postmaster_accepted(self):
        r = self.rcpt('postmaster@example.org')
        self.assertEqual(r.code, 250, r)

    def test_other_domain_unrestricted(self):
        r = self.rcpt('bob@example.net')
        self.assertEqual(r.code, 250, r)

    def test_delivery_only_to_listed(self):
        c = self.raw()
        c.envelope(rcpts=(), pipelined=False)
        c.send('RCPT TO:<bob@example.org>\r\n')
        c.expect(550, '5.1.1')
        c.send('RCPT TO:<alice@example.org>\r\n')
        c.expect(250)
        c.send('DATA\r\n')
        c.expect(354)
        c.send('x\r\n.\r\n')
        c.expect(250)
        self.assertOneMessage('alice')
        self.assertEqual(len(self.all_messages()), 1)


if __name__ == '__main__':
    unittest.main()
