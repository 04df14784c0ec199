"""
spf_netns.py - the SPF component test's world, run inside a private
network and mount namespace (test_policy_daemons.py starts it under
unshare): loopback up, /etc/resolv.conf bind-mounted to name 127.0.0.1,
dnsserver.py on port 53 with the test domains' TXT records,
postfix-policyd-spf-python behind socat on a unix socket, and smtpd
asking it. Sends one message per sender given on the command line and
prints what happened as JSON on stdout:
  {"results": [{"sender", "rcpt_code", "rcpt_text", "data_code",
                "stored": [raw message, ...]}], "log": smtpd's stderr}
Nothing here asserts; the test does.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'integration'))

from dnsserver import DNSServer              # noqa: E402
from harness import Daemon, RawClient, all_new_files  # noqa: E402

RECORDS = {
    'pass.test': 'v=spf1 ip4:127.0.0.1 -all',
    'fail.test': 'v=spf1 -all',
    # none.test: no record at all
}

SPF_CONF = """debugLevel = 1
TestOnly = 1
HELO_reject = Fail
Mail_From_reject = Fail
PermError_reject = False
TempError_Defer = False
skip_addresses = 192.0.2.255/32
"""


def setup_namespace(tmp):
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    resolv = os.path.join(tmp, 'resolv.conf')
    with open(resolv, 'w') as f:
        f.write('nameserver 127.0.0.1\noptions timeout:2 attempts:1\n')
    subprocess.run(['mount', '--bind', resolv, '/etc/resolv.conf'], check=True)


def wait_for(path, timeout=10):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise RuntimeError('%s did not appear' % path)
        time.sleep(0.05)


def send(port, sender):
    c = RawClient(port, timeout=30)
    try:
        c.ehlo()
        c.send('MAIL FROM:<%s>\r\n' % sender)
        c.expect(250)
        c.send('RCPT TO:<user@example.org>\r\n')
        r = c.read_reply()
        out = {'sender': sender, 'rcpt_code': r.code, 'rcpt_text': r.text,
               'data_code': None}
        if r.code == 250:
            c.send('DATA\r\n')
            c.expect(354)
            c.send('Subject: spf\r\n\r\nbody\r\n.\r\n')
            out['data_code'] = c.read_reply().code
        c.send('QUIT\r\n')
        return out
    finally:
        c.close()


def main(senders):
    tmp = tempfile.mkdtemp(prefix='smtpd-spf-')
    setup_namespace(tmp)
    dns = DNSServer(port=53)
    for name, txt in RECORDS.items():
        dns.add(name, 'TXT', txt)
    conf = os.path.join(tmp, 'policyd-spf.conf')
    with open(conf, 'w') as f:
        f.write(SPF_CONF)
    sock = os.path.join(tmp, 'spf.sock')
    socat = subprocess.Popen(['socat', 'UNIX-LISTEN:%s,fork' % sock,
                              'EXEC:/usr/bin/policyd-spf %s' % conf],
                             stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    d = Daemon(['policy_server unix:' + sock])
    results = []
    try:
        wait_for(sock)
        d.start()
        for s in senders:
            r = send(d.port, s)
            r['stored'] = [v.decode('utf-8', 'replace')
                           for v in all_new_files(d.spool).values()]
            d.clear_spool()
            results.append(r)
    finally:
        rc = d.stop()
        log = d.stderr(100000)
        d.cleanup()
        socat.terminate()
        try:
            _, err = socat.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            socat.kill()
            _, err = socat.communicate()
        dns.close()
        shutil.rmtree(tmp, ignore_errors=True)
    json.dump({'results': results, 'log': log, 'smtpd_exit': rc,
               'socat_stderr': err.decode('utf-8', 'replace')[-3000:]}, sys.stdout)


if __name__ == '__main__':
    main(sys.argv[1:])
