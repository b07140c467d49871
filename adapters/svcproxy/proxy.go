package svcproxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Config of the proxy.
type Config struct {
	Client kubernetes.Interface
	Addresses
	// Log receives the proxy's own failures, one line each, prefixed
	// "svcproxy: " (adapters/signatures knows them).
	Log func(format string, a ...any)
}

// dialTimeout bounds one dial of an endpoint before the next is tried.
const dialTimeout = 2 * time.Second

// udpIdle ends a UDP session (one client address) without traffic.
const udpIdle = 60 * time.Second

// Run watches Services and EndpointSlices and serves every Service
// address until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	f := informers.NewSharedInformerFactory(cfg.Client, 5*time.Minute)
	svcs := f.Core().V1().Services()
	slices := f.Discovery().V1().EndpointSlices()
	kick := make(chan struct{}, 1)
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke(kick) },
		UpdateFunc: func(any, any) { poke(kick) },
		DeleteFunc: func(any) { poke(kick) },
	}
	if _, err := svcs.Informer().AddEventHandler(h); err != nil {
		return err
	}
	if _, err := slices.Informer().AddEventHandler(h); err != nil {
		return err
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), svcs.Informer().HasSynced, slices.Informer().HasSynced) {
		return ctx.Err()
	}
	p := &Proxy{log: cfg.Log, listeners: map[Key]*listener{}}
	defer p.Close()
	retry := time.NewTicker(10 * time.Second) // listeners that failed
	defer retry.Stop()
	for {
		sv, _ := svcs.Lister().List(labels.Everything())
		sl, _ := slices.Lister().List(labels.Everything())
		p.Sync(Table(sv, sl, cfg.Addresses))
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-retry.C:
		}
	}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Proxy is the set of listeners of one table.
type Proxy struct {
	log       func(string, ...any)
	mu        sync.Mutex
	listeners map[Key]*listener
	failed    map[Key]string // last error logged per key
}

// NewProxy is a proxy without a cluster behind it: Sync feeds it tables.
func NewProxy(log func(string, ...any)) *Proxy {
	if log == nil {
		log = func(string, ...any) {}
	}
	return &Proxy{log: log, listeners: map[Key]*listener{}}
}

// Sync opens the listeners of t that are missing, closes those not in t
// and gives every listener its current backends.
func (p *Proxy) Sync(t map[Key]Route) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, l := range p.listeners {
		if _, ok := t[k]; !ok {
			l.close()
			delete(p.listeners, k)
		}
	}
	if p.failed == nil {
		p.failed = map[Key]string{}
	}
	for k, r := range t {
		l := p.listeners[k]
		if l == nil {
			var err error
			if l, err = listen(k); err != nil {
				// Logged once per key and error: the retry is every 10 s.
				if p.failed[k] != err.Error() {
					p.log("svcproxy: cannot listen on %s for service %s: %v", k, r.Service, err)
					p.failed[k] = err.Error()
				}
				continue
			}
			delete(p.failed, k)
			p.listeners[k] = l
		}
		r := r
		l.route.Store(&r)
	}
}

// Listening lists the keys served now.
func (p *Proxy) Listening() []Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Key
	for k := range p.listeners {
		out = append(out, k)
	}
	return out
}

// Close stops every listener.
func (p *Proxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, l := range p.listeners {
		l.close()
		delete(p.listeners, k)
	}
}

type listener struct {
	key   Key
	route atomic.Pointer[Route]
	tcp   net.Listener
	udp   net.PacketConn
	done  chan struct{}
}

func listen(k Key) (*listener, error) {
	l := &listener{key: k, done: make(chan struct{})}
	var err error
	if k.Proto == corev1.ProtocolUDP {
		l.udp, err = net.ListenPacket("udp", k.Addr.String())
		if err == nil {
			go l.serveUDP()
		}
	} else {
		l.tcp, err = net.Listen("tcp", k.Addr.String())
		if err == nil {
			go l.serveTCP()
		}
	}
	return l, err
}

func (l *listener) close() {
	close(l.done)
	if l.tcp != nil {
		l.tcp.Close()
	}
	if l.udp != nil {
		l.udp.Close()
	}
}

// pick returns the backends in the order to try: a random start, as
// kube-proxy picks a random endpoint per connection.
func (l *listener) pick() []string {
	r := l.route.Load()
	if r == nil || len(r.Backends) == 0 {
		return nil
	}
	b := r.Backends
	i := rand.IntN(len(b))
	return append(append([]string{}, b[i:]...), b[:i]...)
}

func (l *listener) serveTCP() {
	for {
		c, err := l.tcp.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		go l.forwardTCP(c)
	}
}

// forwardTCP dials the backends in turn; with none to reach the client's
// connection is reset, as kube-proxy's REJECT refuses it.
func (l *listener) forwardTCP(c net.Conn) {
	var up net.Conn
	for _, b := range l.pick() {
		var err error
		if up, err = net.DialTimeout("tcp", b, dialTimeout); err == nil {
			break
		}
	}
	if up == nil {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
		return
	}
	splice(c, up)
}

// splice copies both ways (io.Copy between TCP connections uses splice(2)
// on Linux) and passes each half-close on.
func splice(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(b, a)
		closeWrite(b)
		close(done)
	}()
	_, _ = io.Copy(a, b)
	closeWrite(a)
	<-done
	a.Close()
	b.Close()
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// serveUDP keeps one session per client address: a socket connected to
// one backend, whose replies go back to the client from the Service's
// address.
func (l *listener) serveUDP() {
	var mu sync.Mutex
	sessions := map[string]net.Conn{}
	buf := make([]byte, 64<<10)
	for {
		n, from, err := l.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		mu.Lock()
		up := sessions[from.String()]
		if up == nil {
			for _, b := range l.pick() {
				if up, err = net.Dial("udp", b); err == nil {
					break
				}
			}
			if up == nil {
				mu.Unlock()
				continue
			}
			sessions[from.String()] = up
			go func() {
				rb := make([]byte, 64<<10)
				for {
					_ = up.SetReadDeadline(time.Now().Add(udpIdle))
					m, err := up.Read(rb)
					if err != nil {
						break
					}
					if _, err := l.udp.WriteTo(rb[:m], from); err != nil {
						break
					}
				}
				mu.Lock()
				delete(sessions, from.String())
				mu.Unlock()
				up.Close()
			}()
		}
		mu.Unlock()
		_, _ = up.Write(buf[:n])
	}
}
