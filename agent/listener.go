package agent

import (
	"context"
	"io"
	"net"
)

// Listener yields connections from the host, one at a time or several.
// The guest's virtio port listener and NetListener implement it.
type Listener interface {
	// Accept waits for the next connection or for ctx to end.
	Accept(ctx context.Context) (io.ReadWriteCloser, error)
	Close() error
}

// NetListener adapts a net.Listener, such as a unix socket for testing the
// agent on a host.
func NetListener(l net.Listener) Listener { return netListener{l} }

type netListener struct{ l net.Listener }

func (n netListener) Accept(ctx context.Context) (io.ReadWriteCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return n.l.Accept()
}

func (n netListener) Close() error { return n.l.Close() }
