// Package pki creates and keeps the certificates, keys and kubeconfigs an
// upstream single-node cluster needs (kube-apiserver, kube-controller-manager,
// kube-scheduler, kubelet, kube-proxy), using only the standard library.
//
// Ensure(dir, opts) leaves dir holding:
//
//	ca.crt ca.key                       cluster CA (self-signed, CN=kprobe-ca, 10 years by default)
//	apiserver.crt/.key                  kube-apiserver serving, CN=kube-apiserver
//	apiserver-kubelet-client.crt/.key   CN=kube-apiserver-kubelet-client, O=system:masters
//	admin.crt/.key                      CN=kubernetes-admin, O=system:masters
//	kube-controller-manager.crt/.key    CN=system:kube-controller-manager
//	kube-scheduler.crt/.key             CN=system:kube-scheduler
//	kubelet-client.crt/.key             CN=system:node:<node>, O=system:nodes
//	kube-proxy.crt/.key                 CN=system:kube-proxy
//	kubelet-serving.crt/.key            kubelet serving, CN=system:node:<node>, O=system:nodes
//	sa.key sa.pub                       service-account signing key pair
//	etcd-ca.crt etcd-ca.key             etcd's own CA (CN=kprobe-etcd-ca): only its leaves open etcd
//	etcd-server.crt/.key                etcd client port, CN=kprobe-etcd, SANs localhost, 127.0.0.1
//	etcd-peer.crt/.key                  etcd peer port, same subject and SANs
//	apiserver-etcd-client.crt/.key      CN=kube-apiserver-etcd-client, kube-apiserver's etcd client
//
// etcd gets a CA of its own because the controller-manager signs approved
// certificate signing requests with the cluster CA: a certificate anyone
// could obtain that way must not open etcd, which holds every Secret.
//
// Client certificates carry ExtKeyUsage clientAuth only, serving certificates
// (apiserver, kubelet-serving) serverAuth only; etcd-server and etcd-peer
// both (etcd dials itself with them); leaves are CA:FALSE and never
// outlive the CA. The apiserver's SANs are kubernetes, kubernetes.default,
// kubernetes.default.svc, kubernetes.default.svc.<ClusterDomain>, localhost,
// the node name, 127.0.0.1, the first address of each service CIDR
// (10.96.0.1 by default), the node IP and Options.ExtraSANs; the kubelet's
// are the node name, localhost, 127.0.0.1 and the node IP.
//
// Bundle.WriteKubeconfigs adds admin.conf, controller-manager.conf,
// scheduler.conf, kubelet.conf and kube-proxy.conf, with the certificate
// data embedded, for a server URL the caller gives.
//
// Every key is ECDSA P-256 (SEC 1 "EC PRIVATE KEY" PEM), except that
// Options.ServiceAccountKeyType may ask for an RSA-2048 service-account key
// (PKCS #1 "RSA PRIVATE KEY"); sa.pub is PKIX "PUBLIC KEY". kube-apiserver
// 1.37 accepts both for --service-account-key-file and
// --service-account-signing-key-file (ES256 or RS256 tokens). Keys and
// kubeconfigs are written 0600, certificates 0644, each through a temporary
// file in the same directory and a rename, so a reader never sees a partial
// file. Files are not fsynced (that took a first Ensure from milliseconds to
// tens of them): a file a power cut loses or truncates is "missing" or
// "corrupt" to the next Ensure, which replaces it.
//
// # Reuse
//
// A file that is present and still right is reused untouched (same bytes,
// same mtime; only a wrong permission is corrected). "Right" means: it
// parses, the key matches the certificate, the certificate chains to the
// current CA with the expected ExtKeyUsage, it is already valid and does not
// expire within the renewal window (RenewBefore, 30 days; half of Validity
// when Validity is shorter than 60 days, so short-lived certificates are not
// renewed on every call), and its subject and SANs equal what the options ask
// for now. A change of Validity alone reissues nothing.
//
// A CA that is replaced takes every leaf with it, because the leaves no
// longer chain to it. Conversely any valid self-signed CA whose key is next
// to it (ECDSA or RSA) is kept, whoever made it: a caller brings its own CA by
// placing ca.crt/ca.key in dir before Ensure, and the leaves are issued from
// it. sa.pub is rederived from a good sa.key without replacing the key.
//
// # Damaged files
//
// Everything under dir is owned by this package, so a missing, empty or
// corrupt file (not PEM, bad DER, wrong block type, trailing data, key not
// matching its certificate, leaf of another CA, CA certificate that is not a
// CA) is replaced, not reported as an error: the launcher's job is to get a
// cluster up, and kprobe is the only issuer of these files. Each replacement
// is listed in Bundle.Changes with its reason (e.g. "admin.crt: no PEM
// block") for the caller to log. Replacing the CA invalidates kubeconfigs
// copied elsewhere; replacing sa.key invalidates issued service-account
// tokens. An I/O error other than "does not exist" (permission denied, a
// directory in the way) is returned, and nothing is overwritten. Bad Options
// return an error wrapping ErrInvalidOptions, before anything is written.
//
// Ensure is not safe for concurrent callers on the same directory.
package pki
