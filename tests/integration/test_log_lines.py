"""
test_log_lines.py - the log lines an admin's tools parse: one line per
stored copy, the whole command of a refused line, session ids that do
not repeat across restarts, and stderr lines under the systemd journal.
"""

import os
import re
import time
import unittest

from harness import Daemon, DaemonTestCase, RawClient


def kv_parse(line):
    """A log line's key=value pairs as a log tool reads them: values bare
    or in double quotes with \\" and \\\\ inside (log_quote); a word
    without '=' is skipped. Returns [(key, value)], quotes removed."""
    out, i, n = [], 0, len(line)
    while i < n:
        while i < n and line[i] == ' ':
            i += 1
        m = re.compile(r'([A-Za-z_][A-Za-z0-9_.-]*)=').match(line, i)
        if m is None:
            while i < n and line[i] != ' ':
                i += 1
            continue
        key, i = m.group(1), m.end()
        if i < n and line[i] == '"':
            i += 1
            val = []
            while i < n and line[i] != '"':
                if line[i] == '\\' and i + 1 < n and line[i + 1] in '"\\':
                    i += 1
                val.append(line[i])
                i += 1
            if i >= n:
                raise ValueError('unterminated quote: %r' % line)
            i += 1
            if i < n and line[i] != ' ':
                raise ValueError('text after a closing quote: %r' % line)
            out.append((key, ''.join(val)))
        else:
            j = i
            while j < n and line[j] != ' ':
                j += 1
            out.append((key, line[i:j]))
            i = j
    return out


def wait_lines(daemon, pred, count=1, timeout=5.0):
    """The stderr lines for which pred holds, once there are count."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for l in daemon.stderr(1 << 22).splitlines() if pred(l)]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


class PerCopyLines(DaemonTestCase):
    """Three recipients, one an alias of two mailboxes: a summary line
    and one line per stored copy, each with to= and orig_to=."""

    extra_config = (
        'mailbox alice@example.org',
        'mailbox bob@example.org',
        'mailbox carol@example.org',
        'recipient_delimiter +',
        'extension_folders yes',
        'alias team@example.org alice@example.org, bob@example.org',
    )

    def test_one_line_per_stored_copy(self):
        rcpts = ('Carol+Lists@example.org', 'team@example.org', 'bob@example.org')
        r = self.send_raw(b'Subject: three\r\n\r\nx\r\n', rcpts=rcpts)
        self.assertEqual(r.code, 250)
        msgid = r.text.split()[-1]
        copies = wait_lines(self.daemon, lambda l: 'id=%s ' % msgid in l
                            and 'status=' in l, count=3)
        self.assertEqual(len(copies), 3, self.daemon.stderr())
        got = []
        for line in copies:
            f = kv_parse(line)
            keys = [k for k, _ in f]
            self.assertEqual(len(keys), len(set(keys)), line)
            d = dict(f)
            self.assertEqual(d['id'], msgid)
            self.assertEqual(d['status'], 'stored')
            self.assertRegex(d['session'], r'^\d+$')
            self.assertRegex(d['file'], r'^(\.[a-z]+/)?new/[^/]+$')
            got.append((d['to'], d['orig_to'], d.get('folder'), d['file']))
        got.sort()
        self.assertEqual([g[:3] for g in got], [
            ('<alice@example.org>', '<team@example.org>', None),
            # bob is reached by the alias first: that RCPT names the copy
            ('<bob@example.org>', '<team@example.org>', None),
            ('<carol@example.org>', '<Carol+Lists@example.org>', 'lists'),
        ])
        # file= names the stored file, relative to the mailbox's maildir
        for to, _, folder, rel in got:
            box = to.strip('<>').split('@')[0]
            self.assertTrue(os.path.isfile(os.path.join(self.maildir_path(box), rel)),
                            rel)
            self.assertEqual(rel.startswith('.lists/'), folder == 'lists')
        summary = wait_lines(self.daemon, lambda l: 'id=%s ' % msgid in l
                             and 'result=' in l)
        self.assertEqual(len(summary), 1)
        d = dict(kv_parse(summary[0]))
        self.assertNotIn('to', d)
        self.assertEqual((d['nrcpt'], d['ncopy'], d['result'], d['code']),
                         ('3', '3', 'delivered', '250'))
        self.assertEqual(d['from'], '<a@x.test>')
        self.assertRegex(d['delay'], r'^\d+ms$')

    def test_dsn_parameters_on_the_copy_line(self):
        c = self.raw()
        c.envelope(rcpts=())
        self.assertEqual(c.cmd('RCPT TO:<alice@example.org> NOTIFY=SUCCESS '
                               'ORCPT=rfc822;alice@example.org').code, 250)
        c.cmd('DATA')
        c.send(b'x\r\n.\r\n')
        r = c.read_reply()
        self.assertEqual(r.code, 250)
        msgid = r.text.split()[-1]
        line = wait_lines(self.daemon, lambda l: 'id=%s ' % msgid in l
                          and 'status=' in l)
        self.assertEqual(len(line), 1)
        d = dict(kv_parse(line[0]))
        self.assertEqual((d['notify'], d['orcpt']), ('SUCCESS', 'rfc822;alice@example.org'))

    def test_refused_message_copies_say_so(self):
        c = self.raw()
        c.envelope(rcpts=('alice@example.org',))
        c.cmd('DATA')
        c.send(b'Delivered-To: alice@example.org\r\n\r\nloop\r\n.\r\n')
        self.assertEqual(c.read_reply().code, 554)
        lines = wait_lines(self.daemon, lambda l: 'status=rejected' in l)
        self.assertEqual(len(lines), 1, self.daemon.stderr())
        d = dict(kv_parse(lines[0]))
        self.assertEqual(d['to'], '<alice@example.org>')
        self.assertNotIn('file', d)
        self.assertFalse(self.all_messages())


class RejectCommand(DaemonTestCase):
    """A refused command is logged whole, parameters and all."""

    def test_parameters_kept(self):
        c = self.raw()
        c.envelope(rcpts=())
        line = 'RCPT TO:<x@y.test> ORCPT=rfc822;x@y.test NOTIFY=NEVER'
        self.assertEqual(c.cmd(line).code, 550)
        lines = wait_lines(self.daemon, lambda l: ' reject code=550' in l
                           and 'command="RCPT TO:<x@y.test>' in l)
        self.assertEqual(len(lines), 1, self.daemon.stderr())
        d = dict(kv_parse(lines[0]))
        self.assertEqual(d['command'], line)

    def test_mail_parameters_kept(self):
        c = self.raw()
        c.ehlo()
        line = 'MAIL FROM:<a@x.test> SIZE=999999999999 BODY=8BITMIME'
        self.assertEqual(c.cmd(line).code, 552)
        lines = wait_lines(self.daemon, lambda l: ' reject code=552' in l)
        self.assertEqual(len(lines), 1, self.daemon.stderr())
        self.assertEqual(dict(kv_parse(lines[0]))['command'], line)

    def test_long_command_cut_between_characters(self):
        c = self.raw()
        c.envelope(rcpts=())
        line = 'RCPT TO:<%s@y.test> NOTIFY=NEVER' % ('a' * 60) + \
            ' ORCPT=rfc822;' + 'b' * 480
        self.assertEqual(c.cmd(line).code, 550)
        lines = wait_lines(self.daemon, lambda l: ' reject code=550' in l
                           and 'aaaa@y.test>' in l)
        self.assertEqual(len(lines), 1)
        self.assertEqual(dict(kv_parse(lines[0]))['command'], line)


class SessionIds(unittest.TestCase):
    """Session ids do not start over when the daemon restarts."""

    def session_id(self, d):
        c = RawClient(d.port)
        c.cmd('QUIT')
        c.close()
        lines = wait_lines(d, lambda l: ' disconnect ' in l)
        self.assertEqual(len(lines), 1, d.stderr())
        return int(dict(kv_parse(lines[0]))['session'])

    def test_ids_differ_across_restarts(self):
        ids = []
        for _ in range(2):
            d = Daemon()
            self.addCleanup(d.cleanup)
            d.start()
            ids.append(self.session_id(d))
            d.stop_and_check()
        self.assertNotEqual(ids[0], ids[1])
        self.assertNotEqual(ids, [1, 1])
        # short: at most 15 decimal digits
        for i in ids:
            self.assertLess(i, 10 ** 15)
            self.assertGreater(i, 0)

    def test_two_instances_at_once(self):
        a, b = Daemon(), Daemon()
        for d in (a, b):
            self.addCleanup(d.cleanup)
            d.start()
        ia, ib = self.session_id(a), self.session_id(b)
        self.assertNotEqual(ia, ib)
        a.stop_and_check()
        b.stop_and_check()


STAMP = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z smtpd: ')


class JournalStream(unittest.TestCase):
    """Under systemd (JOURNAL_STREAM names our stderr) a line is only
    the text, with a <N> priority the journal reads; otherwise it has
    its own time stamp and program name."""

    def run_daemon(self, journal):
        d = Daemon()
        self.addCleanup(d.cleanup)
        open(d.errlog, 'wb').close()        # start() reopens the same file
        st = os.stat(d.errlog)
        old = os.environ.get('JOURNAL_STREAM')
        if journal == 'ours':
            os.environ['JOURNAL_STREAM'] = '%d:%d' % (st.st_dev, st.st_ino)
        elif journal == 'other':
            os.environ['JOURNAL_STREAM'] = '%d:%d' % (st.st_dev, st.st_ino + 1)
        else:
            os.environ.pop('JOURNAL_STREAM', None)
        try:
            d.start()
        finally:
            if old is None:
                os.environ.pop('JOURNAL_STREAM', None)
            else:
                os.environ['JOURNAL_STREAM'] = old
        self.assertEqual(os.stat(d.errlog).st_ino, st.st_ino)
        c = RawClient(d.port)
        c.cmd('EHLO x.test')
        c.cmd('RCPT TO:<a@example.org>')    # 503: a reject line
        c.cmd('QUIT')
        c.close()
        self.assertEqual(len(wait_lines(d, lambda l: ' disconnect ' in l)), 1)
        d.stop_and_check()
        lines = [l for l in d.stderr(1 << 20).splitlines() if l]
        self.assertTrue(any(' connect ' in l for l in lines), lines)
        self.assertTrue(any(' reject ' in l for l in lines), lines)
        return lines

    def test_journal_lines_bare(self):
        for l in self.run_daemon('ours'):
            self.assertIsNone(STAMP.match(l), l)
            self.assertNotIn('smtpd: ', l[:40])
            m = re.match(r'<([0-7])>', l)
            self.assertIsNotNone(m, l)
            if ' connect ' in l or ' reject ' in l:
                self.assertEqual(m.group(1), '6', l)   # info
                self.assertRegex(l, r'^<6>session=\d+ ')

    def test_without_journal_as_before(self):
        for l in self.run_daemon(None):
            self.assertRegex(l, STAMP)

    def test_journal_stream_of_another_file(self):
        # Inherited by a process whose stderr went elsewhere: not ours.
        for l in self.run_daemon('other'):
            self.assertRegex(l, STAMP)


if __name__ == '__main__':
    unittest.main()
