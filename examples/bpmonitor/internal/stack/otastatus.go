package stack

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// OTAStatusFilter is the topic filter of device update status reports.
const OTAStatusFilter = "iomt/v1/+/ota/status"

// otaStatusService is the common name of the service certificate the
// status subscriber presents to an external broker.
const otaStatusService = "ota-status"

// OTAStatus feeds device status reports from an external broker into the
// cloud's campaigns. With the embedded broker the cloud taps them in
// process and OTAStatus does nothing.
//
// Each report is acknowledged to the broker only after its campaign is
// stored (Releases.ApplyStatus): an acknowledged report is never lost, and
// one the cloud could not store is redelivered on the next connection
// (persistent session, QoS 1).
type OTAStatus struct {
	cm   *autopaho.ConnectionManager
	stop context.CancelFunc
}

// StartOTAStatus subscribes to OTAStatusFilter on c's external broker with
// a service certificate of c's operator CA. Close stops it.
func StartOTAStatus(ctx context.Context, c *Cloud, logger *slog.Logger) (*OTAStatus, error) {
	if c.Broker != nil || c.Releases == nil || c.BrokerURL == "" {
		return &OTAStatus{}, nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(c.BrokerURL)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Scheme, "mqtts") {
		return nil, fmt.Errorf("ota status: broker URL must be mqtts://host:port")
	}
	cert, err := c.PKI.ServiceCertificate(otaStatusService)
	if err != nil {
		return nil, err
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: c.PKI.ServerRoots, MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
	rel := c.Releases
	onPublish := func(pr paho.PublishReceived) (bool, error) {
		if err := rel.ApplyStatus(pr.Packet.Topic, pr.Packet.Payload); err != nil {
			logger.Warn("ota status: report not stored; left unacknowledged for redelivery", "err", err)
			return true, nil
		}
		if err := pr.Client.Ack(pr.Packet); err != nil {
			logger.Warn("ota status: ack failed", "err", err)
		}
		return true, nil
	}
	cctx, stop := context.WithCancel(context.Background())
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{{Scheme: "tls", Host: u.Host}},
		TlsCfg:                        tlsCfg,
		KeepAlive:                     30,
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         24 * 3600,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(100*time.Millisecond, 10*time.Second, time.Second, 2),
		ConnectTimeout:                10 * time.Second,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				sctx, cancel := context.WithTimeout(cctx, 30*time.Second)
				defer cancel()
				if _, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: OTAStatusFilter, QoS: 1}}}); err != nil && cctx.Err() == nil {
					logger.Warn("ota status: subscribe failed", "err", err)
				}
			}()
		},
		OnConnectError: func(err error) { logger.Warn("ota status: connect failed", "err", err) },
		AttemptConnection: func(ctx context.Context, _ autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			d := tls.Dialer{Config: tlsCfg}
			return d.DialContext(ctx, "tcp", u.Host)
		},
		ClientConfig: paho.ClientConfig{
			ClientID:                   "bpmonitor-ota-status",
			EnableManualAcknowledgment: true,
			OnPublishReceived:          []func(paho.PublishReceived) (bool, error){onPublish},
			OnClientError:              func(err error) { logger.Warn("ota status: client error", "err", err) },
		},
	}
	cm, err := autopaho.NewConnection(cctx, cfg)
	if err != nil {
		stop()
		return nil, fmt.Errorf("ota status: %w", err)
	}
	c.cfg.Story.Tell("release", "subscribed to device update status reports on the external broker")
	return &OTAStatus{cm: cm, stop: stop}, nil
}

// Close disconnects (the broker keeps the session and queues reports for
// the next start).
func (s *OTAStatus) Close(ctx context.Context) error {
	if s == nil || s.cm == nil {
		return nil
	}
	err := s.cm.Disconnect(ctx)
	s.stop()
	return err
}
