package brokertest

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openiomt/sdk/internal/mqttconn"
)

// Message is one received PUBLISH.
type Message struct {
	Topic   string
	Payload []byte
}

// Subscribe connects a plain paho client to rawURL (TLS with tlsCfg for
// mqtts) and subscribes to filter at QoS 1. Messages arrive on the returned
// channel (buffered; the test must drain it). Disconnects at test end.
func Subscribe(t testing.TB, rawURL string, tlsCfg *tls.Config, clientID, filter string) <-chan Message {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	if u.Scheme == "mqtts" {
		conn, err = tls.Dial("tcp", u.Host, tlsCfg)
	} else {
		conn, err = net.Dial("tcp", u.Host)
	}
	if err != nil {
		t.Fatalf("brokertest: dial: %v", err)
	}
	ch := make(chan Message, 100_000)
	c := paho.NewClient(paho.ClientConfig{
		Conn: mqttconn.Wrap(conn), ClientID: clientID,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				ch <- Message{Topic: pr.Packet.Topic, Payload: pr.Packet.Payload}
				return true, nil
			},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("brokertest: connect: %v", err)
	}
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}); err != nil {
		t.Fatalf("brokertest: subscribe: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		<-c.Done()
	})
	return ch
}

// PublishRaw connects a plain paho client, as an attacker or a foreign
// client would, publishes payload on topic at QoS 1 and disconnects. It
// returns the PUBACK reason code.
func PublishRaw(t testing.TB, rawURL string, tlsCfg *tls.Config, clientID, topic string, payload []byte) byte {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	if u.Scheme == "mqtts" {
		conn, err = tls.Dial("tcp", u.Host, tlsCfg)
	} else {
		conn, err = net.Dial("tcp", u.Host)
	}
	if err != nil {
		t.Fatalf("brokertest: dial: %v", err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: mqttconn.Wrap(conn), ClientID: clientID})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("brokertest: connect: %v", err)
	}
	defer func() {
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	}()
	resp, err := c.Publish(ctx, &paho.Publish{QoS: 1, Topic: topic, Payload: payload})
	if resp != nil {
		return resp.ReasonCode
	}
	if err != nil {
		t.Fatalf("brokertest: publish: %v", err)
	}
	return 0
}
