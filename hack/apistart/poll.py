#!/usr/bin/env python3
# poll.py DATADIR LAUNCHPID T0 : every 0.25 s, the API's /readyz?verbose failing checks and each
# cluster process's CPU seconds (utime+stime), as JSON lines, until LAUNCHPID exits.
import json, os, ssl, sys, time, urllib.request
d, lp, t0 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
hz = os.sysconf('SC_CLK_TCK')
def procs():
    out = {}
    for p in os.listdir('/proc'):
        if not p.isdigit(): continue
        try:
            cmd = open('/proc/%s/cmdline' % p, 'rb').read().split(b'\0')
            if not any(d.encode() in a for a in cmd): continue
            st = open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()
            name = os.path.basename(cmd[0].decode())
            if name == 'kprobe': name = 'kprobe-' + (cmd[1].decode() if len(cmd) > 1 else '')
            out[name] = out.get(name, 0) + (int(st[11]) + int(st[12])) / hz
        except Exception: pass
    return out
def readyz():
    for host in ('192.0.2.2', '127.0.0.1'):
        try:
            b = urllib.request.urlopen('https://%s:6443/readyz?verbose' % host, context=ctx, timeout=1).read().decode()
            return [l[4:].split(' ')[0] for l in b.splitlines() if l.startswith('[-]')] or ['OK']
        except urllib.error.HTTPError as e:
            b = e.read().decode()
            return [l[4:].split(' ')[0] for l in b.splitlines() if l.startswith('[-]')]
        except Exception as e:
            err = type(e).__name__
    return ['down:' + err]
while True:
    try: os.kill(lp, 0)
    except OSError: break
    t = time.time()
    print(json.dumps({'t': round(t - t0, 3), 'readyz': readyz(), 'cpu': procs()}), flush=True)
    time.sleep(0.25)
