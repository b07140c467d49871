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
func check(ctx context.Context, r Ready) error {
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
