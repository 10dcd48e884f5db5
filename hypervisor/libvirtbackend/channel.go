package libvirtbackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"libvirt.org/go/libvirt"

	"github.com/vmctl/vmctl/hypervisor"
)

// OpenAgent connects to the agent's virtio-serial channel. On a local
// connection it dials the unix socket libvirt created for the channel; on a
// remote one it goes through libvirt's own channel stream, so the guest is
// as reachable as the libvirt connection is.
func (b *Backend) OpenAgent(ctx context.Context, name string) (io.ReadWriteCloser, error) {
	if !IsLocal(b.uri) {
		return b.openStream(ctx, name, "agent channel of "+name, true, func(dom *libvirt.Domain, st *libvirt.Stream) error {
			return dom.OpenChannel(hypervisor.AgentChannelName, st, libvirt.DOMAIN_CHANNEL_FORCE)
		})
	}
	var path string
	err := b.onOwned(ctx, idempotent, name, func(dom *libvirt.Domain, _ hypervisor.Metadata) error {
		active, err := dom.IsActive()
		if err != nil {
			return convert("open agent of "+name, err)
		}
		if !active {
			return fmt.Errorf("open agent of %s: %w", name, hypervisor.ErrNotRunning)
		}
		xmlDesc, err := dom.GetXMLDesc(0)
		if err != nil {
			return convert("describe "+name, err)
		}
		path, err = hypervisor.AgentSocketPath(xmlDesc)
		if err != nil {
			return fmt.Errorf("open agent of %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("open agent of %s: dial %s: %w", name, path, err)
	}
	return conn, nil
}

// OpenConsole attaches to the first serial console through a libvirt stream.
func (b *Backend) OpenConsole(ctx context.Context, name string) (io.ReadWriteCloser, error) {
	return b.openStream(ctx, name, "console of "+name, false, func(dom *libvirt.Domain, st *libvirt.Stream) error {
		return dom.OpenConsole("", st, libvirt.DOMAIN_CONSOLE_FORCE)
	})
}

// openStream opens a nonblocking stream to the vmctl domain name. The
// stream holds its connection until it is closed. Opening with FORCE
// takes the channel from any earlier stream, so a retry after a lost
// connection is safe.
func (b *Backend) openStream(ctx context.Context, name, what string, needRunning bool, open func(*libvirt.Domain, *libvirt.Stream) error) (io.ReadWriteCloser, error) {
	for attempt := 1; ; attempt++ {
		sess, err := b.acquire(ctx)
		if err != nil {
			return nil, err
		}
		type result struct {
			st  *stream
			err error
		}
		ch := make(chan result, 1)
		go func() {
			st, err := openOn(b, sess, name, what, needRunning, open)
			ch <- result{st, err}
		}()
		var r result
		select {
		case r = <-ch:
		case <-ctx.Done():
			go func() {
				if r := <-ch; r.st != nil {
					r.st.Close()
				} else {
					sess.leave()
				}
			}()
			return nil, fmt.Errorf("open %s: %w", what, ctx.Err())
		}
		if r.err == nil {
			return r.st, nil
		}
		sess.leave()
		if errors.Is(r.err, hypervisor.ErrConnectionLost) || isConnectionError(r.err) || !sess.alive() {
			b.markDead(sess, r.err.Error())
			if attempt == 1 {
				continue
			}
			if !errors.Is(r.err, hypervisor.ErrConnectionLost) {
				r.err = fmt.Errorf("%w: %w", hypervisor.ErrConnectionLost, r.err)
			}
		}
		return nil, r.err
	}
}

func openOn(b *Backend, sess *session, name, what string, needRunning bool, open func(*libvirt.Domain, *libvirt.Stream) error) (*stream, error) {
	dom, _, err := owned(sess.conn, name)
	if err != nil {
		return nil, err
	}
	defer dom.Free()
	if needRunning {
		active, err := dom.IsActive()
		if err != nil {
			return nil, convert("open "+what, err)
		}
		if !active {
			return nil, fmt.Errorf("open %s: %w", what, hypervisor.ErrNotRunning)
		}
	}
	st, err := sess.conn.NewStream(libvirt.STREAM_NONBLOCK)
	if err != nil {
		return nil, convert("new stream for "+name, err)
	}
	if err := open(dom, st); err != nil {
		st.Free()
		return nil, convert("open "+what, err)
	}
	s, err := newStream(b, sess, st, what)
	if err != nil {
		st.Abort()
		st.Free()
		return nil, err
	}
	return s, nil
}
