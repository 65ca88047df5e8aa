package provisioning

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"slices"
	"time"
)

// DeviceTLSConfig returns a TLS client configuration for a device: TLS 1.2
// or later, the identity's certificate chain as client certificate, and the
// server verified against roots for serverName (empty means the host name
// of the URL dialled, which crypto/tls fills in). roots must not be nil: a
// device never trusts the system pool for its own cloud.
func DeviceTLSConfig(id *Identity, roots *x509.CertPool, serverName string) (*tls.Config, error) {
	const op = "device TLS config"
	if roots == nil {
		return nil, newErr(op, "roots", ErrInvalidConfig)
	}
	cert, err := id.TLSCertificate()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      roots,
		ServerName:   serverName,
		Certificates: []tls.Certificate{cert},
	}, nil
}

// ServerTLSConfig configures [NewServerTLSConfig]. Certificate and ClientCAs
// are required; the zero value of the rest verifies client certificates
// without a revocation check.
type ServerTLSConfig struct {
	// Certificate is the server's certificate and key.
	Certificate tls.Certificate
	// ClientCAs verifies device certificates: the manufacturer root(s).
	ClientCAs *x509.CertPool
	// Revocation, when set, is consulted for every client certificate; a
	// revoked certificate, or an error from the checker, aborts the
	// handshake (fail closed).
	Revocation RevocationChecker
	// OptionalClientCert requests but does not require a client
	// certificate (tls.VerifyClientCertIfGiven), for an HTTPS enrolment
	// endpoint that serves first enrolment (token, no certificate) and
	// re-enrolment (certificate) on one port. Certificates that are given are
	// verified and revocation-checked all the same.
	OptionalClientCert bool
	// CheckTimeout bounds each revocation check; zero means 5 seconds.
	CheckTimeout time.Duration
	// ServiceCAs, when not empty, also admits service client certificates
	// ([CA.IssueServiceCertificate]) that chain to one of these CAs and
	// name one of Services — e.g. ingest workers at the broker. Device
	// certificates must then chain to ClientCAs and service certificates
	// to ServiceCAs, so a compromised service CA cannot mint devices nor
	// the device CA services. Service certificates are not revocation
	// checked (the registry knows devices only): keep them short-lived.
	// Empty admits devices only.
	ServiceCAs []*x509.Certificate
	// Services lists the admitted service names; a service certificate
	// naming any other is refused.
	Services []string
}

// NewServerTLSConfig returns a TLS server configuration for the cloud side
// (broker front end, ingest, enrolment): TLS 1.2 or later, client
// certificates required and verified against ClientCAs, each naming a device
// (CN and urn:uuid SAN) and passing the revocation check — or, with
// ServiceCAs, naming an admitted service and verified against ServiceCAs.
// Call [IdentifyPeer] on the verified leaf to learn which.
func NewServerTLSConfig(cfg ServerTLSConfig) (*tls.Config, error) {
	const op = "server TLS config"
	if cfg.ClientCAs == nil || len(cfg.Certificate.Certificate) == 0 {
		return nil, newErr(op, "", ErrInvalidConfig)
	}
	for _, s := range cfg.Services {
		if !ValidServiceName(s) {
			return nil, newErr(op, "services", ErrInvalidConfig)
		}
	}
	if len(cfg.Services) > 0 && len(cfg.ServiceCAs) == 0 {
		return nil, newErr(op, "service CAs", ErrInvalidConfig) // services named, none could be admitted
	}
	clientCAs := cfg.ClientCAs
	var servicePool *x509.CertPool
	if len(cfg.ServiceCAs) > 0 {
		servicePool = x509.NewCertPool()
		clientCAs = cfg.ClientCAs.Clone()
		for _, c := range cfg.ServiceCAs {
			if c == nil || !c.IsCA {
				return nil, newErr(op, "service CAs", ErrInvalidConfig)
			}
			servicePool.AddCert(c)
			clientCAs.AddCert(c)
		}
		cfg.Services = slices.Clone(cfg.Services)
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 5 * time.Second
	}
	auth := tls.RequireAndVerifyClientCert
	if cfg.OptionalClientCert {
		auth = tls.VerifyClientCertIfGiven
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cfg.Certificate},
		ClientCAs:    clientCAs,
		ClientAuth:   auth,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil // only reachable with OptionalClientCert
			}
			leaf := cs.PeerCertificates[0]
			if servicePool == nil {
				if _, err := DeviceIDFromCertificate(leaf); err != nil {
					return err
				}
			} else {
				// The handshake verified the chain against the union of
				// both kinds of CA; verify it again against the CAs of
				// the kind the leaf claims to be.
				peer, err := IdentifyPeer(leaf)
				if err != nil {
					return err
				}
				roots := cfg.ClientCAs
				if peer.IsService() {
					if !slices.Contains(cfg.Services, peer.Service) {
						return newErr(op, "service", ErrUnknownPeer)
					}
					roots = servicePool
				}
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
					KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
					return newErr(op, "issuer", ErrUnknownPeer)
				}
				if peer.IsService() {
					return nil
				}
			}
			device, err := DeviceIDFromCertificate(leaf)
			if err != nil {
				return err
			}
			if cfg.Revocation == nil {
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), cfg.CheckTimeout)
			defer cancel()
			return cfg.Revocation.CheckCertificate(ctx, device, leaf.SerialNumber)
		},
	}, nil
}
