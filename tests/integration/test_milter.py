"""
test_milter.py - smtpd as a milter client (milter, milter_timeout,
milter_failure), against the scriptable test milter of miltertest.py:
every reply and modification, the macros, the stream (headers, CRLF
body in chunks of at most 65535), timeouts and failures, two milters in
order, and many sessions at once.
"""

import os
import re
import signal
import socket
import threading
import time
import unittest

from harness import (DaemonTestCase, Daemon, HELO, RawClient, split_trace,
                     all_new_files, run_smtpd, ipv6_loopback_available)
import miltertest as mt
from miltertest import (TestMilter, CONTINUE, ACCEPT, REJECT, TEMPFAIL, DISCARD, SKIP,
                        PROGRESS, replycode, addheader, insheader, chgheader, quarantine,
                        replbody, addrcpt)

MSG = (b'From: a@x.test\r\nTo: user@example.org\r\nSubject: hello\r\n'
       b'X-Folded: one\r\n two\r\nX-Del: gone\r\n\r\nline 1\r\n..dot\r\nline 3\r\n')


class MilterCase(DaemonTestCase):
    """One daemon and one test milter on a unix socket for the class."""

    extra_config = ('milter unix:{tmp}/milter.sock', 'milter_timeout 5')
    protocol = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.milter = TestMilter(path=os.path.join(cls.daemon.tmp, 'milter.sock'),
                                protocol=cls.protocol)

    @classmethod
    def tearDownClass(cls):
        cls.milter.close()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.milter.reset()
        self.milter.protocol = self.protocol

    def send(self, body=MSG, rcpts=('user@example.org',)):
        return self.send_raw(body, rcpts=rcpts)

    def conn(self):
        self.assertTrue(self.milter.wait(lambda: len(self.milter.conns) >= 1))
        return self.milter.conns[-1]

    def log_has(self, pattern):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if re.search(pattern, self.daemon.stderr(200000)):
                return True
            time.sleep(0.02)
        return False


class TestMilterConversation(MilterCase):

    def test_everything_a_milter_sees(self):
        r = self.send()
        self.assertEqual(r.code, 250, r)
        qid = r.text.split()[-1]
        c = self.conn()
        self.assertTrue(self.milter.wait(lambda: 'eom' in c.stages()))
        self.assertEqual(c.optneg[0], 6)
        self.assertEqual(c.optneg[1] & mt.SMFIF_CHGBODY, 0, 'replace body offered')
        self.assertEqual(c.optneg[1] & (mt.SMFIF_ADDHDRS | mt.SMFIF_CHGHDRS |
                                        mt.SMFIF_QUARANTINE), 0x31)
        self.assertEqual(c.stages()[:5], ['connect', 'helo', 'mail', 'rcpt', 'data'])
        self.assertEqual(c.stages()[-2:], ['body', 'eom'])
        # connect: hostname, family '4', port, address
        _, data, macros = c.of('connect')[0]
        host, rest = data.split(b'\0', 1)
        self.assertEqual(host, b'[127.0.0.1]')
        self.assertEqual(rest[:1], b'4')
        port = int.from_bytes(rest[1:3], 'big')
        self.assertEqual(rest[3:], b'127.0.0.1\0')
        self.assertEqual(macros['j'], 'mx.test')
        self.assertEqual(macros['{daemon_name}'], 'smtpd')
        self.assertEqual(macros['{client_addr}'], '127.0.0.1')
        self.assertEqual(macros['{client_port}'], str(port))
        self.assertEqual(macros['{client_name}'], 'unknown')
        self.assertEqual(macros['{if_addr}'], '127.0.0.1')
        self.assertEqual(macros['{if_name}'], 'mx.test')
        self.assertEqual(macros['_'], '%s [127.0.0.1]' % HELO)
        self.assertTrue(macros['v'].startswith('smtpd'))
        self.assertEqual(c.of('helo')[0][1], HELO.encode() + b'\0')
        _, data, macros = c.of('mail')[0]
        self.assertEqual(data, b'<a@x.test>\0')
        self.assertEqual(macros['i'], qid)
        self.assertEqual(macros['{mail_addr}'], 'a@x.test')
        self.assertEqual(macros['{auth_type}'], '')
        _, data, macros = c.of('rcpt')[0]
        self.assertEqual(data, b'<user@example.org>\0')
        self.assertEqual(macros['{rcpt_addr}'], 'user@example.org')
        self.assertEqual(macros['i'], qid)
        self.assertEqual(c.of('eom')[0][2]['i'], qid)
        self.assertEqual(c.headers(), [('From', 'a@x.test'), ('To', 'user@example.org'),
                                       ('Subject', 'hello'), ('X-Folded', 'one\n two'),
                                       ('X-Del', 'gone')])
        self.assertEqual(len(c.of('eoh')), 1)
        # The body as sent, CRLF, dots unstuffed; the empty line not in it.
        self.assertEqual(c.body(), b'line 1\r\n.dot\r\nline 3\r\n')
        self.assertEqual(len(self.messages('user')), 1)

    def test_esmtp_args_reach_mail(self):
        c = self.raw()
        c.envelope(mail_params=' SIZE=100 BODY=8BITMIME', helo=HELO)
        mc = self.conn()
        self.assertTrue(self.milter.wait(lambda: 'mail' in mc.stages()))
        self.assertEqual(split_nul_list(mc.of('mail')[0][1]),
                         [b'<a@x.test>', b'SIZE=100', b'BODY=8BITMIME'])

    def test_rset_aborts_and_quit_quits(self):
        c = self.raw()
        c.envelope()
        self.assertEqual(c.cmd('RSET').code, 250)
        self.assertEqual(c.cmd('QUIT').code, 221)
        mc = self.conn()
        self.assertTrue(self.milter.wait(lambda: 'quit' in mc.stages()))
        self.assertIn('abort', mc.stages())
        self.assertLess(mc.stages().index('abort'), mc.stages().index('quit'))

    def test_one_connection_for_two_messages(self):
        c = self.raw()
        c.ehlo()
        for _ in range(2):
            c.envelope(helo=None)
            c.send('DATA\r\n')
            c.expect(354)
            c.send(MSG + b'.\r\n')
            c.expect(250)
        c.cmd('QUIT')
        self.assertTrue(self.milter.wait_closed(1))
        self.assertEqual(len(self.milter.conns), 1)
        self.assertEqual(self.milter.conns[0].stages().count('eom'), 2)
        self.assertEqual(len(self.messages('user')), 2)

    def test_big_body_in_chunks(self):
        line = b'x' * 998 + b'\r\n'
        body = b'Subject: big\r\n\r\n' + line * 300       # ~300 KB
        r = self.send(body)
        self.assertEqual(r.code, 250, r)
        c = self.conn()
        self.assertTrue(self.milter.wait(lambda: 'eom' in c.stages()))
        sizes = [len(d) for _, d, _ in c.of('body')]
        self.assertGreater(len(sizes), 4)
        self.assertTrue(all(0 < s <= 65535 for s in sizes), sizes)
        self.assertEqual(c.body(), line * 300)

    def test_bdat_message(self):
        c = self.raw()
        c.envelope()
        c.send(b'BDAT %d LAST\r\n' % len(MSG) + MSG)
        self.assertEqual(c.read_reply().code, 250)
        mc = self.conn()
        self.assertTrue(self.milter.wait(lambda: 'eom' in mc.stages()))
        self.assertEqual(mc.body(), b'line 1\r\n..dot\r\nline 3\r\n')

    def test_no_milter_line_no_socket(self):
        # The same conversation with and without a milter line: one
        # more socket (the filter's) only with it.
        counts = []
        for extra in ([], ['milter ' + self.milter.spec]):
            d = self.start_daemon(extra)
            r = RawClient(d.port)
            r.envelope()
            counts.append(len([v for v in d.open_files().values()
                               if v.startswith('socket:')]))
            r.cmd('QUIT')
            r.close()
        self.assertEqual(counts, [2, 3])


def split_nul_list(data):
    return mt.split_nul(data)


class TestMilterVerdicts(MilterCase):

    def test_connect_reject_answers_every_command(self):
        self.milter.script['connect'] = [REJECT]
        c = self.raw()
        r = c.cmd('EHLO ' + HELO)
        self.assertEqual((r.code, r.enhanced), (550, '5.7.1'))
        r = c.cmd('MAIL FROM:<a@x.test>')
        self.assertEqual(r.code, 550)
        self.assertEqual(c.cmd('NOOP').code, 250)
        self.assertEqual(c.cmd('QUIT').code, 221)
        self.assertTrue(self.log_has(r'stage=connect decision=reject'))

    def test_connect_tempfail(self):
        self.milter.script['connect'] = [TEMPFAIL]
        c = self.raw()
        r = c.cmd('HELO ' + HELO)
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))

    def test_helo_reject(self):
        self.milter.script['helo'] = [replycode('550 5.7.1 Bad HELO name')]
        c = self.raw()
        r = c.cmd('EHLO ' + HELO)
        self.assertEqual(r.code, 550)
        self.assertIn('Bad HELO name', r.text)
        self.assertEqual(c.cmd('MAIL FROM:<a@x.test>').code, 503)

    def test_mail_reject(self):
        self.milter.script['mail'] = [REJECT]
        c = self.raw()
        c.ehlo()
        r = c.cmd('MAIL FROM:<a@x.test>')
        self.assertEqual((r.code, r.enhanced), (550, '5.7.1'))
        self.assertEqual(c.cmd('RCPT TO:<user@example.org>').code, 503)

    def test_rcpt_reject_one(self):
        self.milter.script['rcpt'] = lambda conn, data: \
            [REJECT] if b'bad' in data else [CONTINUE]
        c = self.raw()
        c.ehlo()
        self.assertEqual(c.cmd('MAIL FROM:<a@x.test>').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<bad@example.org>').code, 550)
        self.assertEqual(c.cmd('RCPT TO:<good@example.org>').code, 250)
        c.send('DATA\r\n')
        c.expect(354)
        c.send(MSG + b'.\r\n')
        c.expect(250)
        self.assertEqual(len(self.messages('good')), 1)
        self.assertEqual(self.messages('bad'), [])

    def test_data_reject(self):
        self.milter.script['data'] = [TEMPFAIL]
        c = self.raw()
        c.envelope()
        r = c.cmd('DATA')
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))

    def test_data_reject_under_bdat_answers_last(self):
        self.milter.script['data'] = [REJECT]
        c = self.raw()
        c.envelope()
        half = len(MSG) // 2
        c.send(b'BDAT %d\r\n' % half + MSG[:half])
        self.assertEqual(c.read_reply().code, 250)
        c.send(b'BDAT %d LAST\r\n' % (len(MSG) - half) + MSG[half:])
        r = c.read_reply()
        self.assertEqual((r.code, r.enhanced), (550, '5.7.1'))
        self.assertEqual(self.all_messages(), {})
        self.assertEqual(c.cmd('NOOP').code, 250)

    def test_header_reject(self):
        self.milter.script['header'] = lambda conn, data: \
            [REJECT] if data.startswith(b'Subject') else [CONTINUE]
        r = self.send()
        self.assertEqual((r.code, r.enhanced), (550, '5.7.1'))
        self.assertEqual(self.all_messages(), {})

    def test_eom_reject_leaves_nothing(self):
        self.milter.script['eom'] = [REJECT]
        r = self.send(rcpts=('user@example.org', 'other@example.org'))
        self.assertEqual((r.code, r.enhanced), (550, '5.7.1'))
        self.assertEqual(self.all_messages(), {})
        self.assertTrue(self.log_has(r'result=rejected code=550 .*milter=".*eom reject'))

    def test_eom_tempfail(self):
        self.milter.script['eom'] = [TEMPFAIL]
        r = self.send()
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))
        self.assertEqual(self.all_messages(), {})

    def test_replycode_text_reaches_client(self):
        self.milter.script['eom'] = [replycode('554 5.7.0 Your message smells of spam')]
        r = self.send()
        self.assertEqual((r.code, r.enhanced), (554, '5.7.0'))
        self.assertIn('Your message smells of spam', r.text)
        self.assertEqual(self.all_messages(), {})

    def test_replycode_not_4xx_5xx_is_a_failure(self):
        self.milter.script['eom'] = [replycode('250 2.0.0 fine')]
        r = self.send()
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))
        self.assertEqual(self.all_messages(), {})

    def test_replycode_control_bytes_refused(self):
        self.milter.script['rcpt'] = [replycode('550 5.7.1 evil\x1b[31m')]
        c = self.raw()
        c.ehlo()
        c.cmd('MAIL FROM:<a@x.test>')
        r = c.cmd('RCPT TO:<user@example.org>')
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))

    def test_discard_stores_nothing(self):
        self.milter.script['eom'] = [DISCARD]
        r = self.send()
        self.assertEqual(r.code, 250)
        self.assertEqual(self.all_messages(), {})
        self.assertTrue(self.log_has(r'result=discarded'))

    def test_discard_at_rcpt_drops_the_message(self):
        self.milter.script['rcpt'] = [DISCARD]
        r = self.send()
        self.assertEqual(r.code, 250)
        self.assertEqual(self.all_messages(), {})

    def test_accept_stops_questions(self):
        self.milter.script['mail'] = [ACCEPT]
        r = self.send()
        self.assertEqual(r.code, 250)
        c = self.conn()
        self.assertNotIn('rcpt', c.stages())
        self.assertNotIn('eom', c.stages())
        self.assertEqual(len(self.messages('user')), 1)

    def test_progress_then_continue(self):
        self.milter.script['eom'] = [PROGRESS, PROGRESS, CONTINUE]
        self.assertEqual(self.send().code, 250)

    def test_skip_body(self):
        line = b'y' * 500 + b'\r\n'
        self.milter.script['body'] = [SKIP]
        r = self.send(b'Subject: s\r\n\r\n' + line * 400)
        self.assertEqual(r.code, 250)
        c = self.conn()
        self.assertTrue(self.milter.wait(lambda: 'eom' in c.stages()))
        self.assertEqual(len(c.of('body')), 1)


class TestMilterEdits(MilterCase):

    def stored(self):
        raw = self.assertOneMessage('user')
        rp, received, rest = split_trace(raw)
        head, _, body = rest.partition(b'\n\n')
        return head.split(b'\n'), body

    def test_header_edits_in_the_stored_copy(self):
        self.milter.script['eom'] = [
            addheader('X-Added', 'at the end'),
            insheader(0, 'X-First', 'on top'),
            insheader(2, 'X-Third', 'third'),
            chgheader(1, 'subject', 'changed'),
            chgheader(1, 'X-Del', ''),
            chgheader(1, 'X-Folded', 'new\r\n\tfold'),
            CONTINUE]
        self.assertEqual(self.send().code, 250)
        head, body = self.stored()
        self.assertEqual(head, [
            b'X-First: on top', b'From: a@x.test', b'X-Third: third',
            b'To: user@example.org', b'Subject: changed', b'X-Folded: new',
            b'\tfold', b'X-Added: at the end'])
        self.assertEqual(body, b'line 1\n.dot\nline 3\n')

    def test_edits_apply_to_every_copy(self):
        self.milter.script['eom'] = [addheader('X-Scanned', 'yes'), CONTINUE]
        r = self.send(rcpts=('user@example.org', 'other@example.org'))
        self.assertEqual(r.code, 250)
        for who in ('user', 'other'):
            raw = self.assertOneMessage(who)
            self.assertIn(b'\nX-Scanned: yes\n\nline 1\n', raw)
            self.assertTrue(raw.startswith(b'Return-Path: <a@x.test>\nDelivered-To: '
                                           + who.encode() + b'@example.org\n'))

    def test_header_value_cannot_inject_a_field(self):
        self.milter.script['eom'] = [addheader('X-Evil', 'a\nBcc: victim@x.test'),
                                     CONTINUE]
        self.assertEqual(self.send().code, 250)
        head, _ = self.stored()
        self.assertIn(b'X-Evil: a', head)
        self.assertIn(b'\tBcc: victim@x.test', head)
        self.assertNotIn(b'Bcc: victim@x.test', head)

    def test_bad_header_name_is_a_failure(self):
        self.milter.script['eom'] = [addheader('Bad Name', 'x'), CONTINUE]
        r = self.send()
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))
        self.assertEqual(self.all_messages(), {})

    def test_quarantine(self):
        self.milter.script['eom'] = [quarantine('suspicious attachment'), CONTINUE]
        self.assertEqual(self.send().code, 250)
        head, _ = self.stored()
        self.assertEqual(head[0], b'X-Quarantined: suspicious attachment')
        self.assertTrue(self.log_has(r'decision=quarantine text="suspicious attachment"'))

    def test_replace_body_refused(self):
        self.milter.script['eom'] = [replbody(b'new body\r\n'), CONTINUE]
        r = self.send()
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))
        self.assertEqual(self.all_messages(), {})
        self.assertTrue(self.log_has(r'replace body, which was not offered'))

    def test_add_recipient_ignored(self):
        self.milter.script['eom'] = [addrcpt('<spy@example.org>'), CONTINUE]
        self.assertEqual(self.send().code, 250)
        self.assertEqual(len(self.messages('user')), 1)
        self.assertEqual(self.messages('spy'), [])
        self.assertTrue(self.log_has(r'ignored add recipient'))

    def test_big_message_with_edits(self):
        line = b'z' * 998 + b'\r\n'
        body = b'Subject: big\r\n\r\n' + line * 250
        self.milter.script['eom'] = [insheader(0, 'X-Long', 'v' * 5000), CONTINUE]
        self.assertEqual(self.send(body).code, 250)
        head, stored = self.stored()
        self.assertEqual(head, [b'X-Long: ' + b'v' * 5000, b'Subject: big'])
        self.assertEqual(stored, (b'z' * 998 + b'\n') * 250)

    def test_delete_shrinks(self):
        self.milter.script['eom'] = [chgheader(1, 'From', ''), chgheader(1, 'To', ''),
                                     CONTINUE]
        line = b'q' * 100 + b'\r\n'
        self.assertEqual(self.send(b'From: a\r\nTo: b\r\nSubject: s\r\n\r\n'
                                   + line * 2000).code, 250)
        head, stored = self.stored()
        self.assertEqual(head, [b'Subject: s'])
        self.assertEqual(stored, (b'q' * 100 + b'\n') * 2000)


class TestMilterLeadSpace(MilterCase):
    protocol = mt.SMFIP_HDR_LEADSPC | mt.SMFIP_NR_HDR | mt.SMFIP_NR_BODY

    def test_leading_space_and_no_replies(self):
        self.assertEqual(self.send().code, 250)
        c = self.conn()
        self.assertTrue(self.milter.wait(lambda: 'eom' in c.stages()))
        self.assertEqual(c.headers()[2], ('Subject', ' hello'))


class TestMilterSkippedSteps(MilterCase):
    protocol = (mt.SMFIP_NOCONNECT | mt.SMFIP_NOHELO | mt.SMFIP_NORCPT |
                mt.SMFIP_NOHDRS | mt.SMFIP_NOBODY)

    def test_steps_not_sent(self):
        self.assertEqual(self.send().code, 250)
        c = self.conn()
        self.assertTrue(self.milter.wait(lambda: 'eom' in c.stages()))
        self.assertEqual(c.stages(), ['mail', 'data', 'eoh', 'eom'])


class TestMilterFailures(DaemonTestCase):
    shared_daemon = False

    def setup(self, extra=(), script=None, milters=1):
        tmp = self.tmpdir()
        ms = []
        for i in range(milters):
            m = TestMilter(path=os.path.join(tmp, 'm%d.sock' % i))
            self.addCleanup(m.close)
            ms.append(m)
        if script:
            ms[0].script.update(script)
        d = self.start_daemon(['milter %s' % m.spec for m in ms] + list(extra))
        return d, ms

    def tmpdir(self):
        import tempfile
        import shutil
        t = tempfile.mkdtemp(prefix='milter-', dir='/tmp')
        self.addCleanup(shutil.rmtree, t, True)
        return t

    def send(self, d, body=MSG):
        c = RawClient(d.port)
        self.addCleanup(c.close)
        c.envelope()
        c.send('DATA\r\n')
        c.expect(354)
        c.send(body + b'.\r\n')
        return c.read_reply()

    def test_timeout_tempfails(self):
        d, _ = self.setup(['milter_timeout 1'], {'eom': [('sleep', 3), CONTINUE]})
        r = self.send(d)
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))
        self.assertEqual(all_new_files(d.spool), {})
        self.assertIn('failed: timeout', d.stderr(100000))

    def test_progress_cannot_hold_a_session(self):
        # "progress" every half second, forever: milter_timeout 1 lets
        # it extend the wait to 10 seconds (MILTER_PROGRESS_MAX), no more.
        d, _ = self.setup(['milter_timeout 1'],
                          {'eom': [('sleep', 0.5), PROGRESS] * 60 + [CONTINUE]})
        c = RawClient(d.port, timeout=25)
        self.addCleanup(c.close)
        c.envelope()
        c.send('DATA\r\n')
        c.expect(354)
        c.send(MSG + b'.\r\n')
        r = c.read_reply()
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))
        self.assertIn('failed: timeout', d.stderr(100000))

    def test_timeout_with_failure_accept(self):
        d, _ = self.setup(['milter_timeout 1', 'milter_failure accept'],
                          {'eom': [('sleep', 3), CONTINUE]})
        r = self.send(d)
        self.assertEqual(r.code, 250)
        self.assertEqual(len(all_new_files(d.spool)), 1)

    def test_shutdown_does_not_wait_for_a_milter(self):
        d, (m,) = self.setup(['milter_timeout 60', 'milter_failure accept'],
                             {'eom': [('sleep', 20), CONTINUE]})
        c = RawClient(d.port, timeout=15)
        self.addCleanup(c.close)
        c.envelope()
        c.send('DATA\r\n')
        c.expect(354)
        c.send(MSG + b'.\r\n')
        # The session waits for the filter's answer to end of message.
        self.assertTrue(m.wait(lambda: m.conns and 'eom' in m.conns[0].stages()))
        d.proc.send_signal(signal.SIGTERM)
        r = c.read_reply()
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))
        self.assertEqual(d.proc.wait(10), 0)
        self.assertEqual(all_new_files(d.spool), {})
        self.assertIn('shutting down', d.stderr(100000))

    def test_no_milter_listening(self):
        d = self.start_daemon(['milter unix:/nonexistent/milter.sock'])
        c = RawClient(d.port)
        self.addCleanup(c.close)
        r = c.cmd('EHLO ' + HELO)
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))
        self.assertEqual(c.cmd('MAIL FROM:<a@x.test>').code, 451)

    def test_no_milter_listening_failure_accept(self):
        d = self.start_daemon(['milter unix:/nonexistent/milter.sock',
                               'milter_failure accept'])
        self.assertEqual(self.send(d).code, 250)

    def test_close_mid_message(self):
        d, _ = self.setup(script={'body': [('close',)]})
        r = self.send(d)
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))
        self.assertEqual(all_new_files(d.spool), {})
        self.assertIn('connection closed', d.stderr(100000))

    def test_garbage_replies(self):
        for garbage in (b'\x00\x00\x00\x01Z', b'\xff\xff\xff\xffc',
                        b'\x00\x00\x00\x00', b'\x00\x00\x00\x04y550'):
            d, _ = self.setup(script={'eom': [('raw', garbage)]})
            r = self.send(d)
            self.assertEqual((r.code, r.enhanced), (451, '4.7.1'), garbage)
            self.assertEqual(all_new_files(d.spool), {})
            self.assertTrue(d.alive())

    def test_replace_body_with_failure_accept_stores_unchanged(self):
        d, _ = self.setup(['milter_failure accept'],
                          {'eom': [replbody(b'other\r\n'), CONTINUE]})
        self.assertEqual(self.send(d).code, 250)
        files = list(all_new_files(d.spool).values())
        self.assertEqual(len(files), 1)
        self.assertTrue(files[0].endswith(b'\n\nline 1\n.dot\nline 3\n'))

    def test_two_milters_in_order(self):
        d, (a, b) = self.setup(milters=2)
        a.script['eom'] = [addheader('X-A', '1'), CONTINUE]
        b.script['eom'] = [addheader('X-B', '2'), insheader(0, 'X-B0', '0'), CONTINUE]
        self.assertEqual(self.send(d).code, 250)
        raw = list(all_new_files(d.spool).values())[0]
        rest = split_trace(raw)[2]
        head = rest.partition(b'\n\n')[0].split(b'\n')
        self.assertEqual(head[0], b'X-B0: 0')
        self.assertEqual(head[-2:], [b'X-A: 1', b'X-B: 2'])
        for m in (a, b):
            self.assertEqual(m.conns[0].headers()[0], ('From', 'a@x.test'))

    def test_first_milter_rejects_second_not_asked(self):
        d, (a, b) = self.setup(milters=2)
        a.script['eom'] = [REJECT]
        r = self.send(d)
        self.assertEqual(r.code, 550)
        self.assertTrue(b.wait(lambda: len(b.conns) == 1 and 'body' in b.conns[0].stages()))
        self.assertNotIn('eom', b.conns[0].stages())
        self.assertEqual(all_new_files(d.spool), {})

    def test_many_sessions_at_once(self):
        d, (m,) = self.setup(['max_clients_per_ip 100'])
        m.script['eom'] = [addheader('X-N', 'n'), CONTINUE]
        results = []

        def one(i):
            try:
                c = RawClient(d.port, timeout=20)
                c.envelope(rcpts=('u%d@example.org' % i,))
                c.send('DATA\r\n')
                c.expect(354)
                c.send(MSG + b'.\r\n')
                results.append(c.read_reply().code)
                c.cmd('QUIT')
                c.close()
            except Exception as e:
                results.append(repr(e))

        ts = [threading.Thread(target=one, args=(i,)) for i in range(30)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        self.assertEqual(results, [250] * 30)
        files = all_new_files(d.spool)
        self.assertEqual(len(files), 30)
        self.assertTrue(all(b'\nX-N: n\n\n' in f for f in files.values()))
        self.assertTrue(m.wait_closed(30))
        self.assertEqual(len(m.conns), 30)

    @unittest.skipUnless(ipv6_loopback_available(), 'no IPv6 loopback here')
    def test_ipv6_client(self):
        m = TestMilter(path=os.path.join(self.tmpdir(), 'm.sock'))
        self.addCleanup(m.close)
        d = self.start_daemon(['milter ' + m.spec], listen=['[::1]:{port}'])
        c = RawClient(d.port, host='::1', family=socket.AF_INET6)
        self.addCleanup(c.close)
        c.ehlo()
        self.assertTrue(m.wait(lambda: m.conns and m.conns[0].of('connect')))
        _, data, macros = m.conns[0].of('connect')[0]
        host, rest = data.split(b'\0', 1)
        self.assertEqual(host, b'[::1]')
        self.assertEqual(rest[:1], b'6')
        self.assertEqual(rest[3:], b'::1\0')
        self.assertEqual(macros['{client_addr}'], '::1')

    def test_old_protocol_version(self):
        m = TestMilter(path=os.path.join(self.tmpdir(), 'm.sock'), version=2)
        self.addCleanup(m.close)
        m.script['eom'] = [addheader('X-Old', 'v2'), CONTINUE]
        d = self.start_daemon(['milter ' + m.spec])
        self.assertEqual(self.send(d).code, 250)
        files = list(all_new_files(d.spool).values())
        self.assertEqual(len(files), 1)
        self.assertIn(b'\nX-Old: v2\n\n', files[0])

    def test_bad_version_is_a_failure(self):
        m = TestMilter(path=os.path.join(self.tmpdir(), 'm.sock'), version=9)
        self.addCleanup(m.close)
        d = self.start_daemon(['milter ' + m.spec])
        c = RawClient(d.port)
        self.addCleanup(c.close)
        r = c.cmd('EHLO ' + HELO)
        self.assertEqual((r.code, r.enhanced), (451, '4.7.1'))
        self.assertIn('unsupported protocol version', d.stderr(100000))

    def test_config_errors_and_print(self):
        d = Daemon(['milter tcp:1.2.3.4:5', 'milter_failure maybe', 'milter_timeout 0'])
        self.addCleanup(d.cleanup)
        p = run_smtpd(['-n', '-f', d.conf])
        self.assertNotEqual(p.returncode, 0)
        err = p.stderr.decode()
        self.assertRegex(err, r'smtpd\.conf:\d+: milter "tcp:1\.2\.3\.4:5"')
        self.assertRegex(err, r'smtpd\.conf:\d+: "maybe": expected tempfail or accept')
        self.assertRegex(err, r'smtpd\.conf:\d+: 0: out of range')
        d = Daemon(['milter unix:/run/m.sock', 'milter inet:127.0.0.1:8891',
                    'milter_failure accept', 'milter_timeout 7'])
        self.addCleanup(d.cleanup)
        p = run_smtpd(['-n', '-v', '-f', d.conf])
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('milter unix:/run/m.sock\nmilter inet:127.0.0.1:8891\n', out)
        self.assertIn('milter_timeout 7\n', out)
        self.assertIn('milter_failure accept\n', out)


if __name__ == '__main__':
    unittest.main()
