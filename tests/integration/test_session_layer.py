"""
test_session_layer.py - the session owns the lines it reads; one command
table decides sequencing; a BDAT whose size cannot be read ends the
session; junk commands are bounded; duplicate recipients are cheap.

Each test here failed on the code before the session layer was rebuilt:
a command after a BDAT chunk was parsed out of a freed buffer (EHLO's
name read back as garbage into the reply and the next Received: header),
and a malformed BDAT left its chunk to be run as commands.
"""

import re
import socket
import time
import unittest

from harness import (DaemonTestCase, RawClient, HELO, read_new, split_trace,
                     all_new_files)

RCPT = 'alice@example.org'


def envelope_bytes(helo='x.test', rcpt=RCPT):
    return ('EHLO %s\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<%s>\r\n'
            % (helo, rcpt)).encode()


class CommandsBetweenChunks(DaemonTestCase):
    """Every command between two BDAT chunks: the reply it gets, whether
    the abandoned chunk is stored, and the EHLO name in what is stored
    next. Each case runs step by step and all pipelined in one send."""

    # (command, its reply code, does the transaction survive it?)
    CASES = [
        ('HELO h2.test', 250, False),
        ('EHLO h2.test', 250, False),
        ('RSET', 250, False),
        ('NOOP', 250, True),
        ('HELP', 214, True),
        ('VRFY alice', 503, True),
        ('MAIL FROM:<b@c.test>', 503, True),
        ('RCPT TO:<bob@example.org>', 503, True),
        ('DATA', 503, True),
        ('XYZZY frobnicate', 500, True),
    ]

    def check_case(self, verb, code, survives, pipelined):
        self.daemon.clear_spool()
        c = self.raw()
        first = b'BDAT 6\r\nchunk1'
        second = b'BDAT 6 LAST\r\nchunk2'
        tail = envelope_bytes('last.test', 'bob@example.org') + \
            b'DATA\r\nSubject: after\r\n\r\nnext\r\n.\r\nQUIT\r\n'
        script = envelope_bytes() + first + verb.encode() + b'\r\n' + second + tail
        if pipelined:
            c.send(script)
            replies = c.replies_until_close(limit=40)
            codes = [r.code for r in replies]
        else:
            c.envelope(rcpts=(RCPT,), mail_from='a@b.test', helo='x.test', pipelined=False)
            c.send(first)
            c.expect(250)
            r = c.cmd(verb)
            codes = [250, 250, 250, 250, r.code]
            c.send(second)
            codes.append(c.read_reply().code)
            c.send(tail)
            codes += [x.code for x in c.replies_until_close(limit=40)]
        # EHLO (multi-line: one reply), MAIL, RCPT, first chunk, then the
        # command under test, then the second chunk.
        self.assertEqual(codes[:4], [250, 250, 250, 250], (verb, codes))
        self.assertEqual(codes[4], code, (verb, codes))
        self.assertEqual(codes[5], 250 if survives else 503, (verb, codes))
        self.assertEqual(codes[6:], [250, 250, 250, 354, 250, 221], (verb, codes))
        stored = self.messages('alice')
        if survives:
            self.assertEqual(len(stored), 1, verb)
            self.assertTrue(stored[0].endswith(b'chunk1chunk2'), stored[0][-40:])
        else:
            self.assertEqual(stored, [], verb)
        for raw in self.all_messages().values():
            if survives and raw.endswith(b'chunk1chunk2'):
                continue
            self.assertNotIn(b'chunk', raw, verb)
        nxt = self.assertOneMessage('bob')
        received = split_trace(nxt)[1]
        self.assertIn('from last.test ([127.0.0.1])', received)

    def test_step_by_step(self):
        for verb, code, survives in self.CASES:
            with self.subTest(verb=verb):
                self.check_case(verb, code, survives, pipelined=False)

    def test_pipelined(self):
        for verb, code, survives in self.CASES:
            with self.subTest(verb=verb):
                self.check_case(verb, code, survives, pipelined=True)

    def test_ehlo_after_chunk_names_the_client(self):
        # The reported case: EHLO's reply and the Received: header name
        # the client as it said, not bytes from a freed buffer.
        c = self.raw()
        c.send(envelope_bytes() + b'BDAT 3\r\nabc')
        for _ in range(4):
            c.expect(250)
        r = c.cmd('EHLO y.test')
        self.assertEqual(r.code, 250)
        self.assertIn('Hello y.test [127.0.0.1]', r.lines[0])
        c.send('MAIL FROM:<a@b.test>\r\nRCPT TO:<%s>\r\nDATA\r\n' % RCPT)
        c.expect(250)
        c.expect(250)
        c.expect(354)
        c.send(b'Subject: s\r\n\r\nbody\r\n.\r\n')
        c.expect(250)
        msg = self.assertOneMessage('alice')
        self.assertIn('from y.test ([127.0.0.1])', split_trace(msg)[1])
        self.assertNotIn(b'abc', msg)

    def test_many_pipelined_commands_after_a_message(self):
        # More than the small buffer holds arrives behind a message's end:
        # the commands are read from the big buffer, which must not be
        # freed under them.
        c = self.raw()
        c.send(envelope_bytes() + b'DATA\r\n')
        for _ in range(3):
            c.expect(250)
        c.expect(354)
        names = [b'h%d.' % i + b'a' * 200 + b'.test' for i in range(8)]
        tail = b''.join(b'EHLO %s\r\n' % n for n in names) + b'EHLO late.test\r\n' + \
            b'MAIL FROM:<q@r.test>\r\nRCPT TO:<bob@example.org>\r\n' + \
            b'BDAT 4 LAST\r\nbody' + b'QUIT\r\n'
        self.assertGreater(len(tail), 1536)
        c.send(b'Subject: one\r\n\r\nx\r\n.\r\n' + tail)
        replies = c.replies_until_close(limit=100)
        codes = [r.code for r in replies]
        self.assertEqual(codes, [250] + [250] * 8 + [250, 250, 250, 250, 221])
        for n, r in zip(names, replies[1:9]):
            self.assertIn('Hello %s [127.0.0.1]' % n.decode(), r.lines[0])
        self.assertIn('Hello late.test [127.0.0.1]', replies[9].lines[0])
        msg = self.assertOneMessage('bob')
        self.assertIn('from late.test ([127.0.0.1])', split_trace(msg)[1])


class MalformedBdat(DaemonTestCase):
    """A BDAT whose size cannot be read gets 501 and the session closes:
    its chunk, which holds a whole transaction, never runs as commands."""

    HIDDEN = (b'MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@example.org>\r\n'
              b'DATA\r\nSubject: smuggled\r\n\r\nowned\r\n.\r\n')

    SPELLINGS = [
        b'BDAT  %d',                 # two spaces
        b'BDAT %d  LAST',
        b'BDAT\t%d',
        b'BDAT %d\tLAST',
        b'BDAT +%d',
        b'BDAT -%d',
        b'BDAT 0x%x',
        b'BDAT %d LAST x',
        b'BDAT %d LASTX',
        b'BDAT %d LAS',
        b'BDAT %d last LAST',
        b'BDAT %d,',
        b'BDAT %d ',
        b'BDAT',
        b'BDAT ',
        b'BDAT LAST',
        b'BDAT ' + b'9' * 20,        # overflows 64 bits
        b'BDAT ' + b'1' * 21,
        b'BDAT ' + b'0' * 24 + b'%d',
        b'BDAT ' + b'1' * 30,
        b'BDAT %d\x00',
        b'BDAT %d\r',
        b'BDAT %d ' + b'A' * 600,     # over the command line limit
        b'BDAT %d ' + b'A' * 1200,    # over every line limit
    ]

    def spelled(self, s):
        n = len(self.HIDDEN)
        try:
            return s % n
        except TypeError:
            return s

    def test_every_malformed_spelling_closes(self):
        for sp in self.SPELLINGS:
            with self.subTest(spelling=sp[:40]):
                self.daemon.clear_spool()
                c = self.raw()
                c.send(envelope_bytes() + self.spelled(sp) + b'\r\n' + self.HIDDEN)
                replies = c.replies_until_close(limit=20)
                codes = [r.code for r in replies]
                self.assertEqual(codes[:3], [250, 250, 250], (sp, codes))
                self.assertEqual(codes[3:], [501], (sp, codes))
                self.assertTrue(c.is_closed(), sp)
                self.assertEqual(self.all_messages(), {}, sp)

    def test_refused_but_readable_bdat_eats_its_chunk(self):
        # Before MAIL the command is refused, but its size is known: the
        # chunk is read and dropped and the session goes on.
        c = self.raw()
        c.send(b'EHLO x.test\r\nBDAT %d LAST\r\n' % len(self.HIDDEN) + self.HIDDEN +
               b'NOOP\r\n')
        c.expect(250)
        c.expect(503, '5.5.1')
        c.expect(250)
        self.assertEqual(self.all_messages(), {})

    def test_well_formed_spellings_work(self):
        for verb in (b'BDAT %d LAST', b'bdat %d last', b'BDAT 000%d LaSt'):
            with self.subTest(verb=verb):
                self.daemon.clear_spool()
                body = b'Subject: ok\r\n\r\nfine\r\n'
                c = self.raw()
                c.send(envelope_bytes() + verb % len(body) + b'\r\n' + body + b'QUIT\r\n')
                codes = [r.code for r in c.replies_until_close()]
                self.assertEqual(codes, [250, 250, 250, 250, 221])
                self.assertEqual(len(self.messages('alice')), 1)


class JunkCommands(DaemonTestCase):
    extra_config = ('max_junk_commands 5',)

    def test_past_the_limit_421(self):
        c = self.raw()
        c.ehlo()
        for verb in ('NOOP', 'RSET', 'VRFY a', 'HELP', 'XYZZY'):
            self.assertIn(c.cmd(verb).code, (250, 252, 214, 500), verb)
        r = c.cmd('NOOP')
        self.assertEqual(r.code, 421)
        self.assertTrue(c.is_closed())

    def test_a_delivered_message_resets_the_count(self):
        c = self.raw()
        c.ehlo()
        for _ in range(4):
            self.assertEqual(c.cmd('NOOP').code, 250)
        r = self.send_raw(b'Subject: x\r\n\r\ny\r\n', rcpts=(RCPT,), client=c)
        self.assertEqual(r.code, 250)
        for _ in range(5):
            self.assertEqual(c.cmd('NOOP').code, 250)
        self.assertEqual(c.cmd('NOOP').code, 421)


class JunkDefault(DaemonTestCase):
    def test_default_is_100(self):
        c = self.raw()
        c.send(b'NOOP\r\n' * 101)
        codes = [r.code for r in c.replies_until_close(limit=200)]
        self.assertEqual(codes, [250] * 100 + [421])


class SilentClose(DaemonTestCase):
    """A client that connects and closes without a word (a health check)
    is a lost connection, not an early talker."""

    def test_not_logged_as_talker(self):
        for _ in range(5):
            s = socket.create_connection(('127.0.0.1', self.port))
            s.close()
        c = self.raw()          # a real one after them, to order the log
        c.cmd('QUIT')
        deadline = time.monotonic() + 5
        while self.daemon.stderr(100000).count('disconnect') < 6:
            self.assertLess(time.monotonic(), deadline, self.daemon.stderr())
            time.sleep(0.02)
        log = self.daemon.stderr(100000)
        self.assertNotIn('talked before the greeting', log)
        self.assertNotIn('reject code=554', log)
        ends = re.findall(r'disconnect .* errors=(\d+) reason="([^"]*)"', log)
        self.assertEqual(len(ends), 6, log)
        # Closed before the greeting, or (when the greeting went first)
        # lost like any other client: never an error.
        for errors, reason in ends:
            self.assertEqual(errors, '0', log)
            self.assertIn(reason, ('closed before the greeting', 'client closed',
                                   'read error', 'quit'), log)
        self.assertGreaterEqual(log.count('reason="closed before the greeting"'), 1, log)


class ManyRecipients(DaemonTestCase):
    extra_config = ('max_recipients 1000',)

    def test_thousand_recipients_stored(self):
        # 1000 new maildirs are made before the 354: give it time.
        c = self.raw(timeout=120)
        c.envelope(rcpts=(), mail_from='a@b.test', pipelined=False)
        rcpts = ['u%d@example.org' % i for i in range(1000)]
        c.send(''.join('RCPT TO:<%s>\r\n' % r for r in rcpts))
        for _ in rcpts:
            c.expect(250, '2.1.5')
        # Duplicates in any case are one copy; the 1001st is refused.
        self.assertEqual(c.cmd('RCPT TO:<U7@EXAMPLE.ORG>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<u1000@example.org>').code, 452)
        c.send('DATA\r\n')
        c.expect(354)
        c.send(b'Subject: many\r\n\r\nhi\r\n.\r\n')
        c.expect(250)
        stored = self.all_messages()
        self.assertEqual(len(stored), 1000)
        self.assertEqual(len(self.messages('u7')), 1)


if __name__ == '__main__':
    unittest.main()
