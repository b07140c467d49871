// Package svcproxy forwards Service traffic where kube-proxy cannot run:
// process pods (rung TP) share the sandbox's network, which has no
// iptables, no IPVS and, without CAP_NET_ADMIN, no way to add an address
// to an interface. What every Linux network stack (gVisor's netstack
// included) does give without a capability is the whole of 127.0.0.0/8:
// each of its addresses is local and bindable. So at TP the Service
// ClusterIP range is a loopback range, and this proxy listens on each
// Service's ClusterIP and port itself (and on NodePorts), forwarding TCP
// streams and UDP datagrams to the Service's ready endpoints as read from
// its EndpointSlices.
//
// The sandbox has one port space. A Service whose endpoints listen on the
// Service's own port (targetPort = port) needs no listener of the proxy:
// the pod, listening on all addresses, answers on the loopback ClusterIP
// itself, and a listener of the proxy there would make the pod's bind
// fail. The proxy listens only where the ports differ, and only while the
// Service has endpoints.
//
// Pod IPs stay ordinary addresses (EndpointSlices refuse loopback ones);
// a pod's address is reached on its loopback mirror (Mirror): 127 and the
// pod IP's last three bytes.
//
// Semantics kept from kube-proxy: only ready endpoints (serving
// terminating ones when none is ready), ports matched by the Service
// port's name (so a targetPort given by name resolves per endpoint, as the
// EndpointSlice controller wrote it), a random endpoint per connection,
// and a failed dial retried on another endpoint. Not kept: session
// affinity by client IP (every client is a local address here),
// externalTrafficPolicy and topology hints (one node).
package svcproxy
