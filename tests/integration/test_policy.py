"""Policy servers (policy_server, Postfix's policy delegation protocol):
every action, several servers in order, failures, the connection pool,
the attributes sent, and many sessions at once. The servers are
policyserver.py, on a unix socket and on loopback TCP."""

import os
import re
import shutil
import signal
import smtplib
import tempfile
import time
import threading
import unittest

from harness import (DOMAIN, HELO, DaemonTestCase, RawClient, free_port,
                     run_smtpd, split_trace)
from policyserver import CLOSE, HANG, PolicyServer, Raw, Split

# What the first server (unix socket) answers at RCPT, by the recipient's
# local part; at END-OF-MESSAGE by the sender's local part. Anything else
# gets DUNNO.
FIRST = {
    'ok': 'OK',
    'okfirst': 'OK',
    'dunno': 'DUNNO',
    'reject': 'REJECT',
    'rejecttext': 'REJECT 5.7.9 Go away now',
    'rejectlower': 'reject lower case works',
    'rejectmismatch': 'REJECT 4.1.1 class fixed',
    'defer': 'DEFER',
    'defertext': 'DEFER come back later',
    'num554': '554 5.7.3 Numeric refusal',
    'num521': '521 No enhanced code',
    'num421': '421 Numeric deferral',
    'dip': 'DEFER_IF_PERMIT Greylisted for a while',
    'dipreject': 'DEFER_IF_PERMIT Greylisted for a while',
    'dir': 'DEFER_IF_REJECT Maybe later',
    'dirreject': 'DEFER_IF_REJECT Maybe later',
    'prepend': 'PREPEND X-Policy-Test: prepended at rcpt',
    'prepend2': 'PREPEND X-Policy-Test: prepended at rcpt',
    'badprepend': 'PREPEND no colon here',
    'warn': 'WARN careful with this one',
    'info': 'INFO noted',
    'discard': 'DISCARD dropped by policy',
    'hold': 'HOLD for review',
    'filter': 'FILTER smtp:[127.0.0.1]:10025',
    'redirect': 'REDIRECT someone@else.test',
    'garbage': Raw(b'this is not an attribute\n\n'),
    'noaction': Raw(b'result=OK\n\n'),
    'empty': Raw(b'action=\n\n'),
    'twoactions': Raw(b'action=OK\naction=REJECT\n\n'),
    'ctrl': Raw(b'action=REJECT bad\x01byte\n\n'),
    'utf8': Raw('action=REJECT caf\u00e9 \u2603\n\n'.encode('utf-8')),
    'crlf': Raw(b'action=REJECT with CRLF\r\n\r\n'),
    'huge': Raw(b'action=REJECT ' + b'x' * 5000),
    'split': Split([b'act', b'ion=REJECT spl', b'it reply\n', b'\n']),
    'close': CLOSE,
    'unknownword': 'FROBNICATE now',
    'longtext': 'REJECT ' + 'y' * 1000,
    # for END-OF-MESSAGE (the sender's local part)
    'eomreject': 'REJECT 5.7.1 Content refused',
    'eomdefer': 'DEFER 4.7.1 Content later',
    'eomprepend': 'PREPEND X-Policy-Eom: prepended at end',
    'eomdiscard': 'DISCARD',
}

# The second server (loopback TCP): DUNNO but for these.
SECOND = {
    'dipreject': 'REJECT 5.7.2 Second says no',
    'dirreject': 'REJECT 5.7.2 Second says no',
    'prepend2': 'PREPEND X-Policy-Second: also',
    'dunno': 'REJECT 5.7.4 Only the second refuses',
    'okfirst': 'REJECT never asked',
}


def local_of(addr):
    return addr.split('@', 1)[0]


def decide_by(table):
    def decide(req):
        if req.get('protocol_state') == 'RCPT':
            return table.get(local_of(req.get('recipient', '')), 'DUNNO')
        return table.get(local_of(req.get('sender', '')), 'DUNNO')
    return decide


class PolicyCase(DaemonTestCase):
    """A daemon with the two servers, started before it."""

    servers_config = ['policy_end_of_data yes']

    @classmethod
    def setUpClass(cls):
        cls.sockdir = tempfile.mkdtemp(prefix='smtpd-policy-')
        cls.first = PolicyServer(decide_by(FIRST), os.path.join(cls.sockdir, 'first'))
        cls.second = PolicyServer(decide_by(SECOND))
        cls.extra_config = ['policy_server ' + cls.first.spec,
                            'policy_server ' + cls.second.spec] + cls.servers_config
        try:
            super().setUpClass()
        except BaseException:
            cls._stop_servers()
            raise

    @classmethod
    def _stop_servers(cls):
        cls.first.stop()
        cls.second.stop()
        shutil.rmtree(cls.sockdir, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._stop_servers()

    def rcpt(self, c, local):
        c.send('RCPT TO:<%s@%s>\r\n' % (local, DOMAIN))
        return c.read_reply()

    def session(self, mail_from='a@x.test'):
        c = self.raw()
        c.ehlo()
        c.send('MAIL FROM:<%s>\r\n' % mail_from)
        c.expect(250)
        return c

    def data(self, c, body=b'Subject: policy\r\n\r\nbody\r\n'):
        c.send('DATA\r\n')
        c.expect(354)
        c.send(body + b'.\r\n')
        return c.read_reply()

    def log(self):
        return self.daemon.stderr(400000)


class Actions(PolicyCase):

    def test_ok_and_dunno_accept(self):
        c = self.session()
        self.assertEqual(self.rcpt(c, 'ok').code, 250)
        self.assertEqual(self.rcpt(c, 'anyone').code, 250)
        r = self.data(c)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(len(self.messages('ok')), 1)
        self.assertEqual(len(self.messages('anyone')), 1)
        log = self.log()
        self.assertIn('rcpt="ok@example.org" action=OK', log)
        self.assertIn('rcpt="anyone@example.org" action=DUNNO', log)
        # Every answer is on the message's own line too: OK for "ok"
        # (the second server not asked), DUNNO from both for "anyone",
        # then both at the end of data.
        line = [l for l in log.splitlines() if 'result=delivered' in l and
                'nrcpt=2' in l and 'policy=' in l][-1]
        first, second = self.first.spec, self.second.spec
        self.assertIn('policy="%s RCPT OK; %s RCPT DUNNO; %s RCPT DUNNO; '
                      '%s END-OF-MESSAGE DUNNO; %s END-OF-MESSAGE DUNNO"' % (
                          first, first, second, first, second), line)

    def test_ok_asks_no_further_server(self):
        c = self.session()
        self.assertEqual(self.rcpt(c, 'okfirst').code, 250)
        self.assertEqual(self.second.requests_for(rcpt='okfirst@' + DOMAIN), [])
        # ...where DUNNO goes on to the second, which refuses.
        r = self.rcpt(c, 'dunno')
        self.assertEqual((r.code, r.enhanced), (550, '5.7.4'), r)
        self.assertIn('Only the second refuses', r.text)

    def test_reject_default(self):
        c = self.session()
        r = self.rcpt(c, 'reject')
        self.assertEqual((r.code, r.enhanced), (550, '5.7.1'), r)
        c.send('DATA\r\n')
        c.expect(503)       # no valid recipient
        self.assertEqual(self.all_messages(), {})

    def test_reject_text_and_enhanced_code(self):
        c = self.session()
        r = self.rcpt(c, 'rejecttext')
        self.assertEqual((r.code, r.enhanced), (550, '5.7.9'), r)
        self.assertIn('Go away now', r.text)
        r = self.rcpt(c, 'rejectlower')
        self.assertEqual((r.code, r.enhanced), (550, '5.7.1'), r)
        self.assertIn('lower case works', r.text)
        # An enhanced code of the wrong class takes the reply's class.
        r = self.rcpt(c, 'rejectmismatch')
        self.assertEqual((r.code, r.enhanced), (550, '5.1.1'), r)

    def test_reject_is_logged(self):
        c = self.session()
        self.assertEqual(self.rcpt(c, 'rejecttext').code, 550)
        c.send('QUIT\r\n')
        c.expect(221)
        log = self.log()
        self.assertRegex(log, r'policy=%s state=RCPT rcpt="rejecttext@example.org" '
                         r'action=REJECT code=5xx esc=5.7.9 text="Go away now"'
                         % re.escape('"' + self.first.spec + '"'))
        self.assertRegex(log, r'reject code=550 5.7.9 text="Go away now"')

    def test_defer(self):
        c = self.session()
        r = self.rcpt(c, 'defer')
        self.assertEqual((r.code, r.enhanced), (450, '4.7.1'), r)
        r = self.rcpt(c, 'defertext')
        self.assertEqual((r.code, r.enhanced), (450, '4.7.1'), r)
        self.assertIn('come back later', r.text)

    def test_numeric_replies(self):
        c = self.session()
        r = self.rcpt(c, 'num554')
        self.assertEqual((r.code, r.enhanced), (554, '5.7.3'), r)
        self.assertIn('Numeric refusal', r.text)
        r = self.rcpt(c, 'num521')
        self.assertEqual((r.code, r.enhanced), (521, '5.7.1'), r)
        r = self.rcpt(c, 'num421')
        self.assertEqual((r.code, r.enhanced), (421, '4.7.1'), r)
        # A 421 from a policy server refuses the recipient; the session goes on.
        self.assertEqual(self.rcpt(c, 'ok').code, 250)

    def test_defer_if_permit(self):
        c = self.session()
        # Nothing else refuses: the 450.
        r = self.rcpt(c, 'dip')
        self.assertEqual((r.code, r.enhanced), (450, '4.7.1'), r)
        self.assertIn('Greylisted for a while', r.text)
        # A later server rejects: the rejection wins.
        r = self.rcpt(c, 'dipreject')
        self.assertEqual((r.code, r.enhanced), (550, '5.7.2'), r)

    def test_defer_if_reject(self):
        c = self.session()
        # Nothing rejects: accepted.
        self.assertEqual(self.rcpt(c, 'dir').code, 250)
        # A later server rejects: that becomes the 450.
        r = self.rcpt(c, 'dirreject')
        self.assertEqual((r.code, r.enhanced), (450, '4.7.1'), r)
        self.assertIn('Maybe later', r.text)

    def test_prepend_at_rcpt(self):
        c = self.session()
        self.assertEqual(self.rcpt(c, 'prepend').code, 250)
        self.assertEqual(self.rcpt(c, 'prepend2').code, 250)
        r = self.data(c, b'Subject: hello\r\n\r\nbody\r\n')
        self.assertEqual(r.code, 250, r)
        for local in ('prepend', 'prepend2'):
            raw = self.assertOneMessage(local)
            lines = raw.split(b'\n')
            self.assertTrue(lines[0].startswith(b'Return-Path: <a@x.test>'), raw)
            self.assertTrue(lines[1].startswith(b'Delivered-To: '), raw)
            # Above our Received:, in the order the servers said them,
            # from every RCPT of the message.
            self.assertEqual(lines[2:5], [b'X-Policy-Test: prepended at rcpt',
                                          b'X-Policy-Test: prepended at rcpt',
                                          b'X-Policy-Second: also'], raw)
            self.assertTrue(lines[5].startswith(b'Received: from client.test'), raw)
            self.assertIn(b'\nSubject: hello\n\nbody\n', raw)

    def test_prepend_of_refused_rcpt_is_dropped(self):
        c = self.session()
        self.assertEqual(self.rcpt(c, 'anyone').code, 250)
        r = self.data(c)
        self.assertEqual(r.code, 250)
        raw = self.assertOneMessage('anyone')
        self.assertNotIn(b'X-Policy', raw)
        split_trace(raw)        # our usual trace headers, nothing between

    def test_bad_prepend_is_a_failure(self):
        c = self.session()
        r = self.rcpt(c, 'badprepend')
        self.assertEqual((r.code, r.enhanced), (451, '4.3.5'), r)

    def test_warn_and_info_accept_and_log(self):
        c = self.session()
        self.assertEqual(self.rcpt(c, 'warn').code, 250)
        self.assertEqual(self.rcpt(c, 'info').code, 250)
        self.assertEqual(self.data(c).code, 250)
        log = self.log()
        self.assertIn('rcpt="warn@example.org" action=WARN text="careful with this one"', log)
        self.assertIn('rcpt="info@example.org" action=INFO text="noted"', log)

    def test_discard_at_rcpt_stores_nothing(self):
        c = self.session()
        self.assertEqual(self.rcpt(c, 'discard').code, 250)
        self.assertEqual(self.rcpt(c, 'anyone').code, 250)
        r = self.data(c)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(self.all_messages(), {})
        # The session goes on normally.
        c.send('MAIL FROM:<b@x.test>\r\n')
        c.expect(250)
        self.assertEqual(self.rcpt(c, 'anyone').code, 250)
        self.assertEqual(self.data(c).code, 250)
        self.assertEqual(len(self.messages('anyone')), 1)
        self.assertIn('result=discarded', self.log())
        self.assertIn('action=DISCARD', self.log())

    def test_unsupported_actions_are_failures(self):
        c = self.session()
        for local in ('hold', 'filter', 'redirect', 'unknownword'):
            r = self.rcpt(c, local)
            self.assertEqual((r.code, r.enhanced), (451, '4.3.5'), (local, r))
        self.assertIn('unsupported action HOLD', self.log())
        self.assertIn('unknown action', self.log())

    def test_nonsense_replies_are_failures(self):
        c = self.session()
        for local in ('garbage', 'noaction', 'empty', 'twoactions', 'ctrl', 'huge'):
            r = self.rcpt(c, local)
            self.assertEqual((r.code, r.enhanced), (451, '4.3.5'), (local, r))
            self.assertIn('Server configuration problem', r.text)
        # The pool is still good afterwards.
        self.assertEqual(self.rcpt(c, 'ok').code, 250)

    def test_reply_text_is_sanitized_and_bounded(self):
        c = self.session()
        r = self.rcpt(c, 'utf8')
        self.assertEqual(r.code, 550, r)
        self.assertTrue(all(0x20 <= ord(ch) < 0x7f for ch in r.text), r)
        self.assertIn('caf', r.text)
        r = self.rcpt(c, 'longtext')
        self.assertEqual(r.code, 550, r)
        self.assertLess(len(r.text), 512)
        self.assertEqual(self.rcpt(c, 'crlf').code, 550)

    def test_reply_split_across_packets(self):
        c = self.session()
        r = self.rcpt(c, 'split')
        self.assertEqual((r.code, r.enhanced), (550, '5.7.1'), r)
        self.assertIn('split reply', r.text)

    def test_server_closing_mid_request(self):
        c = self.session()
        r = self.rcpt(c, 'close')
        self.assertEqual((r.code, r.enhanced), (451, '4.3.5'), r)
        self.assertIn('connection closed by the server', self.log())
        self.assertEqual(self.rcpt(c, 'ok').code, 250)

    def test_end_of_message_reject_and_defer(self):
        for sender, code, esc in (('eomreject@x.test', 550, '5.7.1'),
                                  ('eomdefer@x.test', 450, '4.7.1')):
            c = self.session(sender)
            self.assertEqual(self.rcpt(c, 'anyone').code, 250)
            r = self.data(c)
            self.assertEqual((r.code, r.enhanced), (code, esc), r)
            self.assertEqual(self.all_messages(), {})
        log = self.log()
        self.assertIn('state=END-OF-MESSAGE', log)
        self.assertRegex(log, r'from="<eomreject@x.test>" .*result=rejected code=550')
        self.assertRegex(log, r'from="<eomdefer@x.test>" .*result=deferred code=450')

    def test_end_of_message_discard(self):
        c = self.session('eomdiscard@x.test')
        self.assertEqual(self.rcpt(c, 'anyone').code, 250)
        self.assertEqual(self.data(c).code, 250)
        self.assertEqual(self.all_messages(), {})

    def test_end_of_message_prepend(self):
        # The header edit at end of data is delivery_edit's (HDR_INSERT
        # at index 0).
        c = self.session('eomprepend@x.test')
        self.assertEqual(self.rcpt(c, 'anyone').code, 250)
        r = self.data(c, b'Subject: eom\r\n\r\nbody\r\n')
        self.assertEqual(r.code, 250, r)
        raw = self.assertOneMessage('anyone')
        self.assertIn(b'X-Policy-Eom: prepended at end\n', raw)
        self.assertLess(raw.index(b'X-Policy-Eom:'), raw.index(b'Subject: eom'))

    def test_attributes(self):
        c = self.raw()
        c.ehlo()
        c.send('MAIL FROM:<Sender@X.Test> SIZE=1234\r\n')
        c.expect(250)
        self.assertEqual(self.rcpt(c, 'attrs').code, 250)
        self.assertEqual(self.rcpt(c, 'attrs2').code, 250)
        body = b'Subject: attrs\r\n\r\n' + b'z' * 100 + b'\r\n'
        r = self.data(c, body)
        self.assertEqual(r.code, 250, r)
        qid = r.text.split()[-1]
        (rq,) = self.first.requests_for(rcpt='attrs@example.org')
        (rq2,) = self.second.requests_for(rcpt='attrs@example.org')
        client_port = c.sock.getsockname()[1]
        expect = {
            'request': 'smtpd_access_policy', 'protocol_state': 'RCPT',
            'protocol_name': 'ESMTP', 'helo_name': HELO, 'queue_id': '',
            'sender': 'Sender@X.Test', 'recipient': 'attrs@example.org',
            'recipient_count': '0', 'client_address': '127.0.0.1',
            'client_port': str(client_port), 'client_name': 'unknown',
            'reverse_client_name': 'unknown', 'server_address': '127.0.0.1',
            'server_port': str(self.port), 'size': '1234',
            'encryption_protocol': '', 'encryption_cipher': '',
            'encryption_keysize': '0', 'sasl_method': '', 'sasl_username': '',
            'sasl_sender': '', 'ccert_subject': '', 'ccert_issuer': '',
            'ccert_fingerprint': '', 'ccert_pubkey_fingerprint': '',
            'stress': '', 'etrn_domain': '', 'policy_context': '',
        }
        for k, v in expect.items():
            self.assertEqual(rq.get(k), v, k)
        self.assertTrue(rq['instance'])
        self.assertEqual(rq2['instance'], rq['instance'])
        self.assertTrue(rq['_raw'].endswith(b'server_port=%d' % self.port))
        (eom,) = self.first.requests_for(sender='Sender@X.Test', state='END-OF-MESSAGE')
        self.assertEqual(eom['instance'], rq['instance'])
        self.assertEqual(eom['queue_id'], qid)
        self.assertEqual(eom['recipient_count'], '2')
        self.assertEqual(eom['recipient'], '')      # only with one recipient
        self.assertEqual(eom['size'], str(len(body)))
        # The next transaction is another instance.
        c.send('MAIL FROM:<Sender@X.Test>\r\n')
        c.expect(250)
        self.assertEqual(self.rcpt(c, 'attrs3').code, 250)
        (rq3,) = self.first.requests_for(rcpt='attrs3@example.org')
        self.assertNotEqual(rq3['instance'], rq['instance'])
        self.assertEqual(rq3['size'], '0')
        self.assertEqual(rq3['protocol_name'], 'ESMTP')

    def test_helo_protocol_name(self):
        c = self.raw()
        c.send('HELO old.test\r\n')
        c.expect(250)
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        self.assertEqual(self.rcpt(c, 'helo-attrs').code, 250)
        (rq,) = self.first.requests_for(rcpt='helo-attrs@example.org')
        self.assertEqual(rq['protocol_name'], 'SMTP')
        self.assertEqual(rq['helo_name'], 'old.test')

    def test_connections_are_reused(self):
        n0, c0 = self.first.counts()
        c = self.session()
        for i in range(30):
            self.assertEqual(self.rcpt(c, 'reuse%d' % i).code, 250)
        n1, c1 = self.first.counts()
        self.assertEqual(n1 - n0, 30)
        self.assertLessEqual(c1 - c0, 1)

    def test_reconnect_after_server_closed_idle(self):
        c = self.session()
        self.assertEqual(self.rcpt(c, 'before').code, 250)
        self.assertGreaterEqual(self.first.close_all(), 1)
        self.second.close_all()
        _, c0 = self.first.counts()
        for i in range(3):
            self.assertEqual(self.rcpt(c, 'after%d' % i).code, 250)
        _, c1 = self.first.counts()
        self.assertEqual(c1 - c0, 1)
        self.assertEqual(len(self.first.requests_for(rcpt='after0@example.org')), 1)


class Concurrent(PolicyCase):
    servers_config = ['policy_end_of_data yes', 'max_clients 100',
                      'max_clients_per_ip 100']

    def test_many_sessions(self):
        threads, messages, errors = 20, 3, []

        def client(t):
            try:
                s = smtplib.SMTP('127.0.0.1', self.port, local_hostname=HELO, timeout=30)
                for m in range(messages):
                    rcpts = ['c%d-%d-a@%s' % (t, m, DOMAIN), 'c%d-%d-b@%s' % (t, m, DOMAIN)]
                    refused = s.sendmail('t%d@x.test' % t, rcpts,
                                         b'Subject: %d %d\r\n\r\nbody\r\n' % (t, m))
                    if refused:
                        errors.append(refused)
                s.quit()
            except Exception as e:      # reported below
                errors.append(repr(e))

        n0, c0 = self.first.counts()
        ts = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(len(self.all_messages()), threads * messages * 2)
        n1, c1 = self.first.counts()
        # Two RCPTs and one end of data per message.
        self.assertEqual(n1 - n0, threads * messages * 3)
        self.assertLess(c1 - c0, n1 - n0)


class Failure(unittest.TestCase):
    """policy_timeout and policy_failure, each with its own daemon."""

    def setUp(self):
        self.sockdir = tempfile.mkdtemp(prefix='smtpd-policy-')
        self.addCleanup(shutil.rmtree, self.sockdir, True)

    def daemon(self, server, *extra):
        from harness import Daemon
        d = Daemon(['policy_server ' + server.spec] + list(extra))
        self.addCleanup(d.cleanup)
        d.start()
        self.addCleanup(d.stop_and_check)
        return d

    def server(self, decide, name=None, **kw):
        srv = PolicyServer(decide, os.path.join(self.sockdir, name) if name else None, **kw)
        self.addCleanup(srv.stop)
        return srv

    def rcpt(self, d, local='user'):
        c = RawClient(d.port, timeout=10)
        self.addCleanup(c.close)
        c.ehlo()
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        c.send('RCPT TO:<%s@%s>\r\n' % (local, DOMAIN))
        return c, c.read_reply()

    def test_timeout_defers(self):
        srv = self.server(lambda req: HANG, 'hang')
        d = self.daemon(srv, 'policy_timeout 1')
        _, r = self.rcpt(d)
        self.assertEqual((r.code, r.enhanced), (451, '4.3.5'), r)
        self.assertIn('timeout waiting for the reply', d.stderr(100000))

    def test_shutdown_does_not_wait_for_a_server(self):
        srv = self.server(lambda req: HANG, 'slow')
        d = self.daemon(srv, 'policy_timeout 60')
        c = RawClient(d.port, timeout=15)
        self.addCleanup(c.close)
        c.ehlo()
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        c.send('RCPT TO:<user@%s>\r\n' % DOMAIN)
        # The session waits for the server's answer to that RCPT.
        deadline = time.monotonic() + 10
        while not srv.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(srv.requests)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        r = c.read_reply()
        self.assertEqual((r.code, r.enhanced), (451, '4.3.5'), r)
        self.assertEqual(d.proc.wait(10), 0)
        self.assertLess(time.monotonic() - t0, 10)  # not policy_timeout's 60
        self.assertIn('stopping', d.stderr(100000))

    def test_timeout_with_policy_failure_dunno_accepts(self):
        srv = self.server(lambda req: HANG)
        d = self.daemon(srv, 'policy_timeout 1', 'policy_failure dunno')
        c, r = self.rcpt(d)
        self.assertEqual(r.code, 250, r)
        c.send('DATA\r\n')
        c.expect(354)
        c.send('Subject: x\r\n\r\nx\r\n.\r\n')
        c.expect(250)
        self.assertIn('policy_failure dunno', d.stderr(100000))

    def test_no_server_listening(self):
        path = os.path.join(self.sockdir, 'nobody')
        srv = self.server(lambda req: 'OK', 'nobody')
        srv.stop()
        if os.path.exists(path):
            os.unlink(path)
        d = self.daemon(srv)
        _, r = self.rcpt(d)
        self.assertEqual((r.code, r.enhanced), (451, '4.3.5'), r)
        self.assertIn('cannot connect', d.stderr(100000))

    def test_garbage_with_policy_failure_dunno_asks_the_next(self):
        bad = self.server(lambda req: Raw(b'\x00\x01garbage\n\n'), 'bad')
        good = self.server(lambda req: 'REJECT from the good one')
        d = self.daemon(bad, 'policy_server ' + good.spec, 'policy_failure dunno')
        _, r = self.rcpt(d)
        self.assertEqual(r.code, 550, r)
        self.assertIn('from the good one', r.text)

    def test_full_listen_queue_is_waited_for(self):
        # A unix socket whose listen queue is full refuses connect() with
        # EAGAIN: smtpd tries again until policy_timeout instead of
        # taking the unconnected socket for a connection.
        srv = self.server(lambda req: 'DUNNO', 'slow', backlog=1, accept_after=1.0)
        d = self.daemon(srv, 'max_clients_per_ip 100')
        results = []

        def one(i):
            try:
                _, r = self.rcpt(d, 'queued%d' % i)
                results.append(r.code)
            except Exception as e:      # reported below
                results.append(repr(e))
        ts = [threading.Thread(target=one, args=(i,)) for i in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        self.assertEqual(results, [250] * 6, d.stderr(100000)[-3000:])
        self.assertEqual(srv.counts()[0], 6)

    def test_server_that_closes_after_each_answer(self):
        # Every pooled connection is dead when it is next taken.
        state = {}

        def decide(req):
            state['n'] = state.get('n', 0) + 1
            return Raw(b'action=DUNNO\n\n')
        srv = self.server(decide, 'closer')
        d = self.daemon(srv)
        c, r = self.rcpt(d, 'one')
        self.assertEqual(r.code, 250)
        for i in range(5):
            srv.close_all()
            c.send('RCPT TO:<n%d@%s>\r\n' % (i, DOMAIN))
            self.assertEqual(c.read_reply().code, 250)
        self.assertEqual(srv.counts()[0], 6)


class Allowed(PolicyCase):
    """Clients in an allow line are not put to the policy servers."""
    servers_config = ['policy_end_of_data yes', 'allow 127.0.0.2/32']

    def test_allowed_client_not_asked(self):
        from test_limits import SourcedClient
        c = SourcedClient(self.port, '127.0.0.2')
        self.addCleanup(c.close)
        c.ehlo()
        c.send('MAIL FROM:<eomreject@x.test>\r\n')
        c.expect(250)
        self.assertEqual(self.rcpt(c, 'reject').code, 250)
        self.assertEqual(self.data(c).code, 250)
        self.assertEqual(len(self.messages('reject')), 1)
        self.assertEqual(self.first.requests_for(rcpt='reject@example.org'), [])
        self.assertEqual(self.first.requests_for(sender='eomreject@x.test'), [])
        # Everyone else is.
        c = self.session()
        self.assertEqual(self.rcpt(c, 'reject').code, 550)


class ReverseName(PolicyCase):
    """With reverse_dns, client_name and reverse_client_name are the
    confirmed name."""

    @classmethod
    def setUpClass(cls):
        from dnsserver import DNSServer, reverse4
        cls.dns = DNSServer()
        cls.dns.add(reverse4('127.0.0.40', 'in-addr.arpa'), 'PTR', 'mx.good.test')
        cls.dns.add('mx.good.test', 'A', '127.0.0.40')
        cls.servers_config = ['reverse_dns yes', 'dns_timeout 2',
                              'resolver 127.0.0.1:%d' % cls.dns.port]
        try:
            super().setUpClass()
        except BaseException:
            cls.dns.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.dns.close()

    def test_confirmed_name(self):
        from test_limits import SourcedClient
        c = SourcedClient(self.port, '127.0.0.40')
        self.addCleanup(c.close)
        c.ehlo()
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        self.assertEqual(self.rcpt(c, 'named').code, 250)
        (rq,) = self.first.requests_for(rcpt='named@example.org')
        self.assertEqual(rq['client_address'], '127.0.0.40')
        self.assertEqual(rq['client_name'], 'mx.good.test')
        self.assertEqual(rq['reverse_client_name'], 'mx.good.test')


class XclientAttributes(PolicyCase):
    """Behind a proxy's XCLIENT, the requests name the client, its name,
    its login and the address it connected to, as the proxy said."""
    servers_config = ['xclient_from 127.0.0.1/32']

    def test_attributes_from_xclient(self):
        c = self.raw()
        c.ehlo()
        c.send('XCLIENT ADDR=192.0.2.7 PORT=4567 NAME=mail.example.net '
               'LOGIN=joe DESTADDR=198.51.100.1 DESTPORT=25\r\n')
        c.expect(220)
        c.ehlo('client.example.net')
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        self.assertEqual(self.rcpt(c, 'xattr').code, 250)
        req = self.first.requests_for(rcpt='xattr@' + DOMAIN)[-1]
        self.assertEqual(req['client_address'], '192.0.2.7')
        self.assertEqual(req['client_port'], '4567')
        self.assertEqual(req['client_name'], 'mail.example.net')
        self.assertEqual(req['reverse_client_name'], 'mail.example.net')
        self.assertEqual(req['helo_name'], 'client.example.net')
        self.assertEqual(req['sasl_username'], 'joe')
        self.assertEqual(req['server_address'], '198.51.100.1')
        self.assertEqual(req['server_port'], '25')


class Bdat(PolicyCase):
    def test_end_of_message_after_bdat(self):
        c = self.session('eomreject@x.test')
        self.assertEqual(self.rcpt(c, 'anyone').code, 250)
        body = b'Subject: bdat\r\n\r\nbody\r\n'
        c.send(b'BDAT %d LAST\r\n' % len(body) + body)
        r = c.read_reply()
        self.assertEqual((r.code, r.enhanced), (550, '5.7.1'), r)
        self.assertEqual(self.all_messages(), {})
        (eom,) = self.first.requests_for(sender='eomreject@x.test', state='END-OF-MESSAGE')
        self.assertEqual(eom['size'], str(len(body)))


class Config(unittest.TestCase):
    """The directives: errors name file:line; smtpd -n -v prints them
    and the printed text loads back the same."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='smtpd-policy-conf-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, name, lines):
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write('\n'.join(['listen 127.0.0.1:%d' % free_port(), 'hostname mx.test',
                               'domain example.org',
                               'maildir %s/spool/%%d/%%u' % self.tmp] + lines) + '\n')
        return path

    def test_errors(self):
        for line, msg in (
                ('policy_server unix:relative/sock', 'must be absolute'),
                ('policy_server tcp:127.0.0.1:1', 'expected unix:PATH or inet:HOST:PORT'),
                ('policy_server inet:127.0.0.1:0', 'port 1-65535'),
                ('policy_server inet:127.0.0.1', 'expected inet:HOST:PORT'),
                ('policy_timeout 0', 'out of range'),
                ('policy_failure reject', 'expected defer or dunno'),
                ('policy_end_of_data maybe', 'expected yes or no')):
            path = self.write('bad.conf', [line])
            p = run_smtpd(['-n', '-f', path])
            err = p.stderr.decode('utf-8', 'replace')
            self.assertNotEqual(p.returncode, 0, line)
            self.assertIn('%s:5: ' % path, err, line)
            self.assertIn(msg, err, line)
        path = self.write('many.conf', ['policy_server inet:127.0.0.1:%d' % (1000 + i)
                                        for i in range(9)])
        p = run_smtpd(['-n', '-f', path])
        self.assertIn('%s:13: too many policy_server lines' % path,
                      p.stderr.decode('utf-8', 'replace'))

    def roundtrip(self, lines):
        p = run_smtpd(['-n', '-v', '-f', self.write('a.conf', lines)])
        self.assertEqual(p.returncode, 0, p.stderr)
        first = p.stdout.decode().split('\n', 1)[1]
        again = os.path.join(self.tmp, 'b.conf')
        with open(again, 'w') as f:
            f.write(first)
        p = run_smtpd(['-n', '-v', '-f', again])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.decode().split('\n', 1)[1], first)
        return first

    def test_defaults_printed(self):
        out = self.roundtrip([])
        for line in ('# policy_server: none; no policy server is asked',
                     'policy_timeout 10', 'policy_failure defer', 'policy_end_of_data no'):
            self.assertRegex(out, '(?m)^%s$' % re.escape(line))

    def test_all_set_printed(self):
        out = self.roundtrip(['policy_server unix:/run/postgrey.sock',
                              'policy_server inet:127.0.0.1:10023',
                              'policy_server inet:[::1]:10024',
                              'policy_timeout 3', 'policy_failure dunno',
                              'policy_end_of_data yes'])
        self.assertIn('policy_server unix:/run/postgrey.sock\n'
                      'policy_server inet:127.0.0.1:10023\n'
                      'policy_server inet:[::1]:10024\n', out)
        for line in ('policy_timeout 3', 'policy_failure dunno', 'policy_end_of_data yes'):
            self.assertRegex(out, '(?m)^%s$' % re.escape(line))


class NoPolicy(DaemonTestCase):
    """Without policy_server nothing is asked and no socket is opened."""

    def test_no_sockets(self):
        c = self.raw()
        c.envelope()
        before = [v for v in self.daemon.open_files().values() if v.startswith('socket:')]
        c.send('DATA\r\n')
        c.expect(354)
        c.send('x\r\n.\r\n')
        c.expect(250)
        after = [v for v in self.daemon.open_files().values() if v.startswith('socket:')]
        self.assertEqual(len(before), len(after))
        self.assertNotIn('policy=', self.daemon.stderr(100000))


if __name__ == '__main__':
    unittest.main()
