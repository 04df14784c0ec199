"""Real clients: smtplib, swaks, curl."""

import email.header
import email.message
import email.policy
import os
import shutil
import smtplib
import subprocess
import tempfile
import unittest

from harness import DaemonTestCase, HELO, body_of, split_trace

SWAKS = shutil.which('swaks')
CURL = shutil.which('curl')
TOOL_TIMEOUT = 20


class Smtplib(DaemonTestCase):

    def test_sendmail(self):
        s = self.smtp()
        msg = 'From: a@x.test\nTo: user@example.org\nSubject: smtplib\n\nline 1\n.dot line\nlast\n'
        refused = s.sendmail('a@x.test', ['user@example.org'], msg)
        self.assertEqual(refused, {})
        s.quit()
        self.assertEqual(body_of(self.assertOneMessage('user')), msg.encode())

    def test_sendmail_bytes_crlf(self):
        s = self.smtp()
        wire = b'Subject: bytes\r\n\r\n\xe2\x82\xac uro\r\n..two dots\r\n'
        s.sendmail('a@x.test', ['user@example.org'], wire, mail_options=['BODY=8BITMIME'])
        s.quit()
        self.assertEqual(body_of(self.assertOneMessage('user')),
                         b'Subject: bytes\n\n\xe2\x82\xac uro\n..two dots\n')

    def test_send_message(self):
        m = email.message.EmailMessage()
        m['From'] = 'a@x.test'
        m['To'] = 'user@example.org'
        m['Subject'] = 'send_message'
        m.set_content('Hello from send_message.\n.\nThe end.\n')
        s = self.smtp()
        s.send_message(m)
        s.quit()
        raw = self.assertOneMessage('user')
        expected = m.as_bytes(policy=email.policy.SMTP).replace(b'\r\n', b'\n')
        self.assertEqual(body_of(raw), expected)
        rp, _, _ = split_trace(raw)
        self.assertEqual(rp, 'Return-Path: <a@x.test>')

    def test_send_message_utf8(self):
        m = email.message.EmailMessage()
        m['From'] = 'a@x.test'
        m['To'] = 'user@example.org'
        m['Subject'] = 'gr\u00fc\u00dfe'
        m.set_content('\u00e4\u00f6\u00fc \u20ac\n', cte='8bit')
        s = self.smtp()
        s.send_message(m)
        s.quit()
        parsed = self.maildir('user')
        msgs = list(parsed.values())
        self.assertEqual(len(msgs), 1)
        subject = str(email.header.make_header(email.header.decode_header(msgs[0]['Subject'])))
        self.assertEqual(subject, 'gr\u00fc\u00dfe')
        self.assertEqual(msgs[0].get_payload(decode=True).decode('utf-8'), '\u00e4\u00f6\u00fc \u20ac\n')

    def test_multiple_recipients(self):
        s = self.smtp()
        rcpts = ['r1@example.org', 'r2@example.org', 'R3@Example.Org']
        refused = s.sendmail('a@x.test', rcpts, 'Subject: many\n\nhi\n')
        self.assertEqual(refused, {})
        s.quit()
        for r in ('r1', 'r2', 'r3'):
            self.assertEqual(body_of(self.assertOneMessage(r)), b'Subject: many\n\nhi\n')

    def test_some_recipients_refused(self):
        s = self.smtp()
        refused = s.sendmail('a@x.test', ['ok@example.org', 'no@elsewhere.test'],
                             'Subject: partial\n\nhi\n')
        self.assertEqual(list(refused), ['no@elsewhere.test'])
        self.assertEqual(refused['no@elsewhere.test'][0], 550)
        s.quit()
        self.assertOneMessage('ok')
        self.assertEqual(len(self.all_messages()), 1)

    def test_all_recipients_refused(self):
        s = self.smtp()
        with self.assertRaises(smtplib.SMTPRecipientsRefused):
            s.sendmail('a@x.test', ['no@elsewhere.test'], 'x\n')
        s.quit()
        self.assertEqual(self.all_messages(), {})

    def test_several_messages_one_connection(self):
        s = self.smtp()
        for i in range(5):
            s.sendmail('a@x.test', ['user@example.org'], 'Subject: %d\n\nn%d\n' % (i, i))
        s.quit()
        bodies = sorted(body_of(m) for m in self.messages('user'))
        self.assertEqual(bodies, sorted(b'Subject: %d\n\nn%d\n' % (i, i) for i in range(5)))

    def test_helo_client(self):
        s = self.smtp()
        code, _ = s.helo(HELO)
        self.assertEqual(code, 250)
        s.sendmail('a@x.test', ['user@example.org'], 'Subject: helo\n\nhi\n')
        s.quit()
        _, rec, _ = split_trace(self.assertOneMessage('user'))
        self.assertIn('from client.test ', rec)

    def test_verify_and_noop(self):
        s = self.smtp()
        s.ehlo()
        self.assertEqual(s.noop()[0], 250)
        self.assertEqual(s.verify('user')[0], 252)
        self.assertEqual(s.rset()[0], 250)


@unittest.skipUnless(SWAKS, 'swaks not installed')
class Swaks(DaemonTestCase):

    def swaks(self, *args):
        cmd = [SWAKS, '--server', '127.0.0.1:%d' % self.port, '--helo', HELO,
               '--from', 'a@x.test', '--timeout', '10'] + list(args)
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=TOOL_TIMEOUT)
        return p.returncode, p.stdout.decode('utf-8', 'replace')

    def test_basic(self):
        rc, out = self.swaks('--to', 'user@example.org', '--body', 'swaks body text')
        self.assertEqual(rc, 0, out)
        body = body_of(self.assertOneMessage('user'))
        self.assertIn(b'\n\nswaks body text\n', body)
        self.assertNotIn(b'\r', body)

    def test_pipeline(self):
        rc, out = self.swaks('--pipeline', '--to', 'u1@example.org,u2@example.org',
                             '--body', 'pipelined via swaks')
        self.assertEqual(rc, 0, out)
        for u in ('u1', 'u2'):
            self.assertIn(b'pipelined via swaks', body_of(self.assertOneMessage(u)))

    def test_exact_data(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, 'msg')
        with open(path, 'wb') as f:
            # swaks adds the CRLF before the final dot itself
            f.write(b'Subject: exact\r\n\r\n.starts with dot\r\nplain')
        rc, out = self.swaks('--to', 'user@example.org', '--data', path)
        self.assertEqual(rc, 0, out)
        self.assertEqual(body_of(self.assertOneMessage('user')),
                         b'Subject: exact\n\n.starts with dot\nplain\n')

    def test_rejected_recipient(self):
        rc, out = self.swaks('--to', 'user@elsewhere.test', '--body', 'x')
        self.assertNotEqual(rc, 0, out)
        self.assertIn('550', out)
        self.assertEqual(self.all_messages(), {})


@unittest.skipUnless(CURL, 'curl not installed')
class Curl(DaemonTestCase):

    def curl(self, content, *args):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, 'msg')
        with open(path, 'wb') as f:
            f.write(content)
        cmd = [CURL, '-s', '-S', '--max-time', '10',
               'smtp://127.0.0.1:%d/%s' % (self.port, HELO),
               '--mail-from', 'a@x.test'] + list(args) + ['-T', path]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=TOOL_TIMEOUT)
        return p.returncode, p.stdout.decode('utf-8', 'replace')

    def test_upload(self):
        content = b'From: a@x.test\r\nSubject: curl\r\n\r\nsent by curl\r\n.leading dot\r\n'
        rc, out = self.curl(content, '--mail-rcpt', 'user@example.org')
        self.assertEqual(rc, 0, out)
        self.assertEqual(body_of(self.assertOneMessage('user')),
                         b'From: a@x.test\nSubject: curl\n\nsent by curl\n.leading dot\n')

    def test_multiple_rcpts(self):
        rc, out = self.curl(b'Subject: c\r\n\r\nboth\r\n', '--mail-rcpt', 'c1@example.org',
                            '--mail-rcpt', 'c2@example.org')
        self.assertEqual(rc, 0, out)
        for u in ('c1', 'c2'):
            self.assertEqual(body_of(self.assertOneMessage(u)), b'Subject: c\n\nboth\n')

    def test_binary_body(self):
        payload = bytes(b for b in range(256) if b not in (10, 13))
        content = b'Subject: bin\r\n\r\n' + payload + b'\r\n'
        rc, out = self.curl(content, '--mail-rcpt', 'user@example.org')
        self.assertEqual(rc, 0, out)
        self.assertEqual(body_of(self.assertOneMessage('user')),
                         b'Subject: bin\n\n' + payload + b'\n')

    def test_rejected_rcpt(self):
        rc, out = self.curl(b'x\r\n', '--mail-rcpt', 'user@elsewhere.test')
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(self.all_messages(), {})


if __name__ == '__main__':
    unittest.main()
