package supervise

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// check runs a readiness check once.
func (r Ready) check(ctx context.Context) error {
	d := net.Dialer{Timeout: time.Second}
	switch {
	case r.TCP != "":
		c, err := d.DialContext(ctx, "tcp", r.TCP)
		if err != nil {
			return err
		}
		return c.Close()
	case r.Socket != "":
		c, err := d.DialContext(ctx, "unix", r.Socket)
		if err != nil {
			return err
		}
		return c.Close()
	case r.HTTP != "":
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // liveness only, see Ready.HTTP
		}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.HTTP, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %s", r.HTTP, resp.Status)
		}
		return nil
	case r.File != "":
		_, err := os.Stat(r.File)
		return err
	}
	return nil
}

func (r Ready) String() string {
	switch {
	case r.TCP != "":
		return "tcp " + r.TCP
	case r.Socket != "":
		return "socket " + r.Socket
	case r.HTTP != "":
		return r.HTTP
	case r.File != "":
		return "file " + r.File
	}
	return "started"
}

func (r Ready) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return 60 * time.Second
}
