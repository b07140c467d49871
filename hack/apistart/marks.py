#!/usr/bin/env python3
# marks.py OUTDIR (one.sh's output): the kube-apiserver's start phases from its log and the supervisor's, seconds since the
# apiserver process started (klog timestamps).
import re, sys, json
o = sys.argv[1]
def ts(l):
    m = re.match(r'[IWE]\d{4} (\d\d):(\d\d):(\d\d\.\d+)', l) or re.match(r'(\d\d):(\d\d):(\d\d\.\d+) ', l)
    return int(m[1])*3600+int(m[2])*60+float(m[3]) if m else None
sup = open(o+'/logs/supervisor.log').read().splitlines()
def supt(s):
    for l in sup:
        if s in l: return ts(l)
start = supt('started kube-apiserver')
marks = [('etcd process started', supt('started etcd')), ('etcd port open', supt('etcd ready'))]
api = open(o+'/logs/kube-apiserver.log').read().splitlines()
def first(pat, last=False):
    hits = [ts(l) for l in api if re.search(pat, l) and ts(l)]
    return (hits[-1] if last else hits[0]) if hits else None
marks += [('apiserver exec', start),
  ('first log line (Go init, flags)', first(r'.')),
  ('admission plugins loaded (authn/authz/etcd clients built)', first('admission controller')),
  ('first API group installed', first('Adding GroupVersion')),
  ('last API group installed', first('Adding GroupVersion', True)),
  ('Serving securely (OpenAPI, aggregator prepared)', first('Serving securely')),
  ('caches synced (last)', first('Caches are synced', True)),
  ('/readyz 200 (supervisor)', supt('kube-apiserver ready')),
  ('kubelet started', supt('started kubelet')),
  ('kubelet healthz', supt('kubelet ready')),
  ('kube-controller-manager healthz', supt('kube-controller-manager ready')),
  ('kube-scheduler healthz', supt('kube-scheduler ready'))]
for n, t in marks:
    print('%7.2f  %s' % ((t - start) if t else float('nan'), n))
