// Package netsim simulates a home network that drops out: a TCP proxy on
// loopback between a simulated monitor and the broker, which can be taken
// offline (every connection cut, new ones refused) and brought back.
//
// The proxy works at the TCP level, so TLS runs end to end between device
// and broker and the proxy sees only ciphertext. It exists so the example
// can show store-and-forward: readings taken while offline wait in the
// device's durable outbox and arrive after the link returns.
package netsim

import (
	"context"
	"io"
	"net"
	"sync"
)

// Proxy forwards TCP connections from Addr to a target while online.
// Its methods are safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	dialer net.Dialer

	mu     sync.Mutex
	online bool
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Listen starts a proxy on a free 127.0.0.1 port forwarding to target
// (host:port). It starts online.
func Listen(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, online: true, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Online reports whether the link is up.
func (p *Proxy) Online() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.online
}

// SetOnline brings the link up or down. Going down cuts every connection.
func (p *Proxy) SetOnline(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.online = up
	if !up {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

// Close stops the proxy and cuts every connection.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.online || p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	up, err := p.dialer.DialContext(ctx, "tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(up) {
		_ = up.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}
