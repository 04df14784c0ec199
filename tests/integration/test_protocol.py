"""SMTP command handling: greeting, EHLO, sequencing, syntax, replies."""

import re
import unittest

from harness import DaemonTestCase, HELO, body_of


class GreetingAndEhlo(DaemonTestCase):
    extra_config = ['max_message_size 1000000']

    def test_greeting(self):
        c = self.raw()
        self.assertRegex(c.greeting.lines[0], r'^mx\.test ESMTP\b')

    def test_ehlo_first_line_is_hostname(self):
        c = self.raw()
        r = c.ehlo()
        self.assertGreater(len(r.lines), 1, 'EHLO reply should be multi-line')
        self.assertRegex(r.lines[0], r'^mx\.test(\s|$)')

    def test_ehlo_keywords(self):
        c = self.raw()
        r = c.ehlo()
        kw = {l.split()[0].upper(): l.split()[1:] for l in r.lines[1:] if l.split()}
        for k in ('PIPELINING', 'SIZE', '8BITMIME', 'ENHANCEDSTATUSCODES',
                  'SMTPUTF8', 'CHUNKING', 'DSN'):
            self.assertIn(k, kw, 'EHLO lacks %s: %r' % (k, r.lines))
        self.assertEqual(kw['SIZE'], ['1000000'])

    def test_ehlo_multiline_format(self):
        c = self.raw()
        c.send('EHLO client.test\r\n')
        raw = b''
        while not re.search(rb'(^|\r\n)250 [^\r\n]*\r\n$', raw):
            raw += c.sock.recv(4096)
        lines = raw.split(b'\r\n')[:-1]
        for l in lines[:-1]:
            self.assertTrue(l.startswith(b'250-'), l)
        self.assertTrue(lines[-1].startswith(b'250 '), lines[-1])

    def test_smtplib_sees_extensions(self):
        s = self.smtp()
        code, _ = s.ehlo()
        self.assertEqual(code, 250)
        self.assertTrue(s.does_esmtp)
        for k in ('pipelining', '8bitmime', 'enhancedstatuscodes', 'smtputf8',
                  'chunking', 'dsn'):
            self.assertTrue(s.has_extn(k), k)
        self.assertEqual(s.esmtp_features['size'], '1000000')

    def test_helo(self):
        c = self.raw()
        c.send('HELO client.test\r\n')
        r = c.expect(250)
        self.assertRegex(r.lines[0], r'mx\.test')

    def test_second_ehlo_allowed(self):
        c = self.raw()
        c.ehlo()
        c.ehlo()
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250, '2.1.0')

    def test_commands_case_insensitive(self):
        c = self.raw()
        c.ehlo('client.test')
        c.send('ehlo client.test\r\n')
        c.expect(250)
        c.send('mail from:<a@x.test>\r\n')
        c.expect(250, '2.1.0')
        c.send('rCpT tO:<user@example.org>\r\n')
        c.expect(250, '2.1.5')
        c.send('dAtA\r\n')
        c.expect(354)
        c.send('x\r\n.\r\n')
        c.expect(250, '2.0.0')
        c.send('nOoP\r\n')
        c.expect(250, '2.0.0')
        c.send('quit\r\n')
        c.expect(221, '2.0.0')


class Sequencing(DaemonTestCase):

    def test_mail_before_helo(self):
        c = self.raw()
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(503, '5.5.1')

    def test_rcpt_before_mail(self):
        c = self.raw()
        c.ehlo()
        c.send('RCPT TO:<user@example.org>\r\n')
        c.expect(503, '5.5.1')

    def test_data_before_mail(self):
        c = self.raw()
        c.ehlo()
        c.send('DATA\r\n')
        c.expect(503, '5.5.1')

    def test_data_before_rcpt(self):
        c = self.raw()
        c.envelope(rcpts=(), pipelined=False)
        c.send('DATA\r\n')
        c.expect(503, '5.5.1')
        # still in the transaction: a recipient can still be added
        c.send('RCPT TO:<user@example.org>\r\n')
        c.expect(250, '2.1.5')

    def test_nested_mail(self):
        c = self.raw()
        c.envelope(rcpts=(), pipelined=False)
        c.send('MAIL FROM:<b@x.test>\r\n')
        c.expect(503, '5.5.1')

    def test_rset_clears_transaction(self):
        c = self.raw()
        c.envelope(pipelined=False)
        c.send('RSET\r\n')
        c.expect(250, '2.0.0')
        c.send('DATA\r\n')
        c.expect(503, '5.5.1')
        c.send('RCPT TO:<user@example.org>\r\n')
        c.expect(503, '5.5.1')
        c.send('MAIL FROM:<b@x.test>\r\n')
        c.expect(250, '2.1.0')
        self.assertEqual(self.all_messages(), {})

    def test_rset_before_helo(self):
        c = self.raw()
        c.send('RSET\r\n')
        c.expect(250, '2.0.0')

    def test_noop(self):
        c = self.raw()
        c.send('NOOP\r\n')
        c.expect(250, '2.0.0')

    def test_vrfy(self):
        c = self.raw()
        c.ehlo()
        c.send('VRFY user\r\n')
        c.expect(252, '2.5.2')

    def test_help(self):
        c = self.raw()
        c.send('HELP\r\n')
        c.expect(214)

    def test_quit_closes(self):
        c = self.raw()
        c.send('QUIT\r\n')
        c.expect(221, '2.0.0')
        self.assertTrue(c.is_closed(3), 'connection still open after QUIT')

    def test_nothing_answered_after_quit(self):
        c = self.raw()
        c.send('QUIT\r\nNOOP\r\nNOOP\r\n')
        c.expect(221, '2.0.0')
        replies = c.replies_until_close()
        self.assertEqual(replies, [])

    def test_many_pipelined_commands(self):
        # far more replies than fit one output buffer (the same RCPT
        # again and again: not junk commands, which are bounded)
        c = self.raw()
        c.envelope(rcpts=())
        c.send('RCPT TO:<user@example.org>\r\n' * 1000)
        for i in range(1000):
            c.expect(250, '2.1.5')
        c.send('QUIT\r\n')
        c.expect(221)

    def test_half_close_after_message(self):
        import socket
        c = self.raw()
        c.send(b'EHLO client.test\r\nMAIL FROM:<a@x.test>\r\n'
               b'RCPT TO:<user@example.org>\r\nDATA\r\n')
        c.expect(250)
        c.expect(250)
        c.expect(250)
        c.expect(354)
        c.send(b'half close\r\n.\r\n')
        c.sock.shutdown(socket.SHUT_WR)
        c.expect(250, '2.0.0')
        self.assertTrue(c.is_closed(3))
        self.assertEqual(body_of(self.assertOneMessage('user')), b'half close\n')

    def test_quit_mid_transaction_delivers_nothing(self):
        c = self.raw()
        c.envelope(pipelined=False)
        c.send('QUIT\r\n')
        c.expect(221, '2.0.0')
        self.assertTrue(c.is_closed(3))
        self.assertEqual(self.all_messages(), {})

    def test_data_reply_has_queue_id(self):
        r = self.send_raw(b'Subject: q\r\n\r\nhi\r\n')
        self.assertEqual(r.code, 250, r)
        self.assertEqual(r.enhanced, '2.0.0', r)
        self.assertRegex(r.lines[0], r'^2\.0\.0 Ok: queued as \S+')

    def test_enhanced_codes_on_all_replies(self):
        c = self.raw()
        c.ehlo()
        for cmd in ('NOOP', 'RSET', 'VRFY x', 'MAIL FROM:<a@x.test>',
                    'RCPT TO:<user@example.org>', 'RCPT TO:<x@elsewhere.test>',
                    'XYZZY', 'MAIL FROM:<b@x.test>'):
            r = c.cmd(cmd)
            self.assertIsNotNone(r.enhanced, '%s -> %r lacks enhanced code' % (cmd, r))
            self.assertEqual(r.enhanced[0], str(r.code)[0],
                             'class mismatch in %r' % r)


class Syntax(DaemonTestCase):

    def setUp(self):
        super().setUp()
        self.c = self.raw()
        self.c.ehlo()

    def mail_ok(self):
        self.c.send('MAIL FROM:<a@x.test>\r\n')
        self.c.expect(250, '2.1.0')

    def test_mail_without_brackets(self):
        self.c.send('MAIL FROM:foo\r\n')
        self.c.expect(501, '5.1.7')

    def test_mail_without_from(self):
        for line in ('MAIL', 'MAIL <a@x.test>'):
            with self.subTest(line=line):
                self.c.send(line + '\r\n')
                self.c.expect(501, '5.5.4')
        # no transaction was started
        self.mail_ok()

    def test_rcpt_double_at(self):
        self.mail_ok()
        self.c.send('RCPT TO:<a@b@c>\r\n')
        self.c.expect(501, '5.1.3')

    def test_unknown_mail_parameter(self):
        self.c.send('MAIL FROM:<a@x.test> FOO=bar\r\n')
        self.c.expect(555, '5.5.4')
        self.mail_ok()

    def test_unknown_rcpt_parameter(self):
        self.mail_ok()
        self.c.send('RCPT TO:<user@example.org> FOO=bar\r\n')
        self.c.expect(555, '5.5.4')

    def test_known_mail_parameters(self):
        self.c.send('MAIL FROM:<a@x.test> SIZE=100 BODY=8BITMIME\r\n')
        self.c.expect(250, '2.1.0')
        self.c.send('RSET\r\n')
        self.c.expect(250)
        self.c.send('MAIL FROM:<a@x.test> SMTPUTF8\r\n')
        self.c.expect(250, '2.1.0')
        self.c.send('RSET\r\n')
        self.c.expect(250)
        self.c.send('MAIL FROM:<a@x.test> RET=HDRS ENVID=abc123\r\n')
        self.c.expect(250, '2.1.0')
        self.c.send('RCPT TO:<user@example.org> NOTIFY=NEVER\r\n')
        self.c.expect(250, '2.1.5')
        self.c.send('RCPT TO:<user2@example.org> NOTIFY=SUCCESS,FAILURE '
                    'ORCPT=rfc822;user2@example.org\r\n')
        self.c.expect(250, '2.1.5')

    def test_unknown_command(self):
        self.c.send('XYZZY\r\n')
        self.c.expect(500, '5.5.2')
        self.c.send('NOOP\r\n')
        self.c.expect(250)

    def test_long_command_line(self):
        self.c.send('NOOP ' + 'x' * 600 + '\r\n')
        self.c.expect(500, '5.5.2')
        self.c.send('NOOP\r\n')
        self.c.expect(250, '2.0.0')

    def test_command_line_limit_boundary(self):
        # 512 octets including CRLF is the longest allowed line
        self.c.send('NOOP ' + 'x' * (512 - 7) + '\r\n')
        self.c.expect(250, '2.0.0')
        self.c.send('NOOP ' + 'x' * (512 - 6) + '\r\n')
        self.c.expect(500, '5.5.2')

    def test_very_long_command_line(self):
        self.c.send('NOOP ' + 'x' * 20000 + '\r\n')
        self.c.expect(500, '5.5.2')
        self.c.send('NOOP\r\n')
        self.c.expect(250, '2.0.0')

    def test_long_line_does_not_run_commands(self):
        # the tail of an over-long line must not be parsed as a command
        self.c.send('NOOP ' + 'x' * 600 + 'QUIT\r\n')
        self.c.expect(500, '5.5.2')
        self.c.send('NOOP\r\n')
        self.c.expect(250, '2.0.0')

    def test_null_sender(self):
        self.c.send('MAIL FROM:<>\r\n')
        self.c.expect(250, '2.1.0')

    def test_rcpt_postmaster_without_domain(self):
        for rcpt in ('postmaster', 'Postmaster', 'POSTMASTER'):
            with self.subTest(rcpt=rcpt):
                self.c.send('RSET\r\n')
                self.c.expect(250)
                self.mail_ok()
                self.c.send('RCPT TO:<%s>\r\n' % rcpt)
                self.c.expect(250, '2.1.5')

    def test_relaying_denied(self):
        self.mail_ok()
        for rcpt in ('user@elsewhere.test', 'user@example.org.evil.test',
                     'user@sub.example.org'):
            with self.subTest(rcpt=rcpt):
                self.c.send('RCPT TO:<%s>\r\n' % rcpt)
                self.c.expect(550, '5.7.1')

    def test_relaying_denied_then_data_refused(self):
        self.mail_ok()
        self.c.send('RCPT TO:<user@elsewhere.test>\r\n')
        self.c.expect(550, '5.7.1')
        self.c.send('DATA\r\n')
        r = self.c.read_reply()
        self.assertIn(r.code, (503, 554), r)

    def test_domain_case_insensitive(self):
        self.mail_ok()
        self.c.send('RCPT TO:<User@EXAMPLE.ORG>\r\n')
        self.c.expect(250, '2.1.5')
        self.c.send('RCPT TO:<user@Example.Org>\r\n')
        self.c.expect(250, '2.1.5')

    def test_source_route_accepted(self):
        self.c.send('MAIL FROM:<@a.example,@b.example:a@x.test>\r\n')
        self.c.expect(250, '2.1.0')
        self.c.send('RCPT TO:<@a.example,@b.example:user@example.org>\r\n')
        self.c.expect(250, '2.1.5')

    def test_quoted_local_part_accepted(self):
        self.mail_ok()
        self.c.send('RCPT TO:<"john doe"@example.org>\r\n')
        self.c.expect(250, '2.1.5')

    def test_local_part_64_ok(self):
        self.mail_ok()
        self.c.send('RCPT TO:<%s@example.org>\r\n' % ('a' * 64))
        self.c.expect(250, '2.1.5')

    def test_rcpt_local_part_too_long(self):
        self.mail_ok()
        self.c.send('RCPT TO:<%s@example.org>\r\n' % ('a' * 65))
        self.c.expect(501, '5.1.3')

    def test_mail_local_part_too_long(self):
        self.c.send('MAIL FROM:<%s@x.test>\r\n' % ('a' * 65))
        self.c.expect(501)

    def test_unsafe_local_parts(self):
        self.mail_ok()
        for local in ('".hidden"', '"a/b"', '"../../etc/x"', '".."', '"."'):
            with self.subTest(local=local):
                self.c.send('RCPT TO:<%s@example.org>\r\n' % local)
                self.c.expect(550, '5.1.3')
        self.c.send('RCPT TO:<user@example.org>\r\n')
        self.c.expect(250, '2.1.5')

    def test_utf8_address_needs_smtputf8(self):
        self.mail_ok()
        self.c.send('RCPT TO:<j\u00fcrgen@example.org>\r\n')
        r = self.c.read_reply()
        self.assertEqual(r.code // 100, 5, r)

    def test_domain_too_long(self):
        self.c.send('MAIL FROM:<a@%s.test>\r\n' % ('b' * 300))
        r = self.c.read_reply()
        self.assertEqual(r.code, 501, r)

    def test_empty_path_in_rcpt(self):
        self.mail_ok()
        self.c.send('RCPT TO:<>\r\n')
        r = self.c.read_reply()
        self.assertEqual(r.code // 100, 5, r)


class Pipelining(DaemonTestCase):

    def test_pipelined_transaction(self):
        c = self.raw()
        r = c.ehlo()
        self.assertIn('PIPELINING', [l.split()[0].upper() for l in r.lines[1:]])
        c.send('MAIL FROM:<a@x.test>\r\nRCPT TO:<u1@example.org>\r\n'
               'RCPT TO:<u2@example.org>\r\nDATA\r\n')
        c.expect(250, '2.1.0')
        c.expect(250, '2.1.5')
        c.expect(250, '2.1.5')
        c.expect(354)
        body = b'Subject: pipelined\r\n\r\nhello\r\n'
        c.send(body + b'.\r\nQUIT\r\n')
        c.expect(250, '2.0.0')
        c.expect(221, '2.0.0')
        self.assertTrue(c.is_closed(3))
        for u in ('u1', 'u2'):
            msg = self.assertOneMessage(u)
            self.assertEqual(body_of(msg), b'Subject: pipelined\n\nhello\n')

    def test_pipelined_with_rejected_rcpt(self):
        c = self.raw()
        c.ehlo()
        c.send('MAIL FROM:<a@x.test>\r\nRCPT TO:<u1@example.org>\r\n'
               'RCPT TO:<u2@elsewhere.test>\r\nRCPT TO:<u3@example.org>\r\nDATA\r\n')
        c.expect(250, '2.1.0')
        c.expect(250, '2.1.5')
        c.expect(550, '5.7.1')
        c.expect(250, '2.1.5')
        c.expect(354)
        c.send(b'x\r\n.\r\n')
        c.expect(250, '2.0.0')
        self.assertOneMessage('u1')
        self.assertOneMessage('u3')
        self.assertEqual(len(self.all_messages()), 2)

    def test_pipelined_sessions_in_one_packet(self):
        c = self.raw()
        c.send('EHLO client.test\r\nNOOP\r\nRSET\r\nMAIL FROM:<a@x.test>\r\n'
               'RCPT TO:<u1@example.org>\r\nDATA\r\n')
        c.expect(250)
        c.expect(250, '2.0.0')
        c.expect(250, '2.0.0')
        c.expect(250, '2.1.0')
        c.expect(250, '2.1.5')
        c.expect(354)
        c.send(b'one\r\n.\r\nMAIL FROM:<b@x.test>\r\nRCPT TO:<u2@example.org>\r\n'
               b'DATA\r\n')
        c.expect(250, '2.0.0')
        c.expect(250, '2.1.0')
        c.expect(250, '2.1.5')
        c.expect(354)
        c.send(b'two\r\n.\r\nQUIT\r\n')
        c.expect(250, '2.0.0')
        c.expect(221, '2.0.0')
        self.assertEqual(body_of(self.assertOneMessage('u1')), b'one\n')
        self.assertEqual(body_of(self.assertOneMessage('u2')), b'two\n')


class Chunking(DaemonTestCase):
    """BDAT (RFC 3030), advertised as CHUNKING."""
    extra_config = ['max_message_size 1000']

    def bdat(self, c, data, last=False):
        c.send(b'BDAT %d%s\r\n' % (len(data), b' LAST' if last else b'') + data)
        return c.read_reply()

    def start(self, rcpt='user@example.org'):
        c = self.raw()
        c.envelope(rcpts=(rcpt,), pipelined=False)
        return c

    def test_chunks_delivered(self):
        c = self.start()
        r = self.bdat(c, b'Subject: b\r\n\r\n')
        self.assertEqual((r.code, r.enhanced), (250, '2.0.0'), r)
        # no dot-stuffing with BDAT: a leading dot is data
        r = self.bdat(c, b'.dot\r\nlast\r\n', last=True)
        self.assertEqual((r.code, r.enhanced), (250, '2.0.0'), r)
        self.assertEqual(body_of(self.assertOneMessage('user')),
                         b'Subject: b\n\n.dot\nlast\n')

    def test_crlf_split_between_chunks(self):
        c = self.start()
        self.assertEqual(self.bdat(c, b'Subject: s\r').code, 250)
        self.assertEqual(self.bdat(c, b'\n\r\nbody\r\n', last=True).code, 250)
        self.assertEqual(body_of(self.assertOneMessage('user')), b'Subject: s\n\nbody\n')

    def test_empty_last_chunk(self):
        c = self.start()
        self.assertEqual(self.bdat(c, b'Subject: e\r\n\r\nx\r\n').code, 250)
        self.assertEqual(self.bdat(c, b'', last=True).code, 250)
        self.assertEqual(body_of(self.assertOneMessage('user')), b'Subject: e\n\nx\n')

    def test_chunk_data_is_not_parsed_as_commands(self):
        c = self.start()
        r = self.bdat(c, b'QUIT\r\nRSET\r\n', last=True)
        self.assertEqual(r.code, 250, r)
        c.send('NOOP\r\n')
        c.expect(250)
        self.assertEqual(body_of(self.assertOneMessage('user')), b'QUIT\nRSET\n')

    def test_bdat_without_mail(self):
        c = self.raw()
        c.ehlo()
        r = self.bdat(c, b'abc', last=True)
        self.assertEqual((r.code, r.enhanced), (503, '5.5.1'), r)
        # the chunk was consumed: the session is still in step
        c.send('NOOP\r\n')
        c.expect(250, '2.0.0')

    def test_data_after_bdat_refused(self):
        c = self.start()
        self.assertEqual(self.bdat(c, b'part\r\n').code, 250)
        c.send('DATA\r\n')
        r = c.read_reply()
        self.assertEqual((r.code, r.enhanced), (503, '5.5.1'), r)

    def test_bdat_over_size_limit(self):
        c = self.start()
        r = self.bdat(c, b'x' * 600)
        r2 = self.bdat(c, b'y' * 600 + b'\r\n', last=True)
        # The first chunk fits (600 of 1000 octets); the last one passes
        # the limit, and the message is refused at its end.
        self.assertEqual((r.code, r2.code), (250, 552), (r, r2))
        self.assertEqual(r2.enhanced, '5.3.4')
        self.assertEqual(self.all_messages(), {})
        self.assertEqual(self.all_messages(), {})
        c.send('NOOP\r\n')
        c.expect(250)

    def test_bdat_bad_size(self):
        c = self.start()
        c.send('BDAT abc LAST\r\n')
        r = c.read_reply()
        self.assertEqual(r.code, 501, r)

    def test_bdat_pipelined(self):
        c = self.raw()
        c.ehlo()
        body = b'Subject: p\r\n\r\npipelined bdat\r\n'
        c.send(b'MAIL FROM:<a@x.test>\r\nRCPT TO:<user@example.org>\r\n'
               b'BDAT %d LAST\r\n' % len(body) + body + b'QUIT\r\n')
        c.expect(250, '2.1.0')
        c.expect(250, '2.1.5')
        c.expect(250, '2.0.0')
        c.expect(221, '2.0.0')
        self.assertEqual(body_of(self.assertOneMessage('user')),
                         b'Subject: p\n\npipelined bdat\n')


if __name__ == '__main__':
    unittest.main()
