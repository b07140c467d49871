#!/bin/bash
# cmp.sh VARIANT...: one T0 launch per variant (bin/kprobe-VARIANT), alternating; per run one
# line: variant, load average, api/node/pod (s since launch start), CPU s per component at launch end.
# A variant written NAME+verify also runs `kprobe verify` on its cluster before the stop.
cd "$(dirname "$0")/../.."
for VV in "$@"; do
  V=${VV%+verify}
  K=$PWD/bin/kprobe-$V; D=/tmp/apistart-c-$V; O=/tmp/apistart-cmp-$V-$(date +%H%M%S)
  L1=$(cut -d' ' -f1 /proc/loadavg)
  $K launch --engine kubernetes --data-dir $D --output json > $O.json 2>$O.err
  RC=$?
  L2=$(cut -d' ' -f1 /proc/loadavg)
  CPU=$(python3 - $D <<'PY'
import os,sys
d=sys.argv[1]; hz=os.sysconf('SC_CLK_TCK'); out={}; rss={}
for p in os.listdir('/proc'):
    if not p.isdigit(): continue
    try:
        cmd=open('/proc/%s/cmdline'%p,'rb').read().split(b'\0')
        if not any(d.encode() in a for a in cmd): continue
        st=open('/proc/%s/stat'%p).read().rsplit(')',1)[1].split()
        n=os.path.basename(cmd[0].decode()); n={'kube-apiserver':'api','kube-controller-manager':'kcm','kube-scheduler':'sched','containerd-shim-runc-v2':'shim'}.get(n,n)
        out[n]=out.get(n,0)+(int(st[11])+int(st[12]))/hz
        if n=='api': rss[n]=int(st[21])*4096>>20
    except Exception: pass
print(' '.join('%s=%.1f'%(k,v) for k,v in sorted(out.items())), 'apiRSS=%sMiB'%rss.get('api'))
PY
)
  T=$(python3 -c "
import json,sys;r=json.load(open('$O.json'));p={x['name']:x['atMs']/1000 for x in r['phases'] if x['done']}
print('api=%.1f node=%.1f pod=%.1f end=%.1f'%(p.get('api',0),p.get('node',0),p.get('pod',0),max(p.values())))" 2>/dev/null)
  VR=""
  if [ "$VV" != "$V" ]; then $K verify --data-dir $D > $O.verify 2>&1; VR="verify-rc=$?"; fi
  cp -r $D/logs $O.logs 2>/dev/null
  $K stop --purge --data-dir $D > $O.stop 2>&1
  echo "$V rc=$RC $VR load=$L1/$L2 $T cpu: $CPU" | tee -a /tmp/apistart-cmp.txt
done
