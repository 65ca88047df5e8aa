package telemetry

import (
	"errors"
	"strings"
	"testing"

	"github.com/openiomt/sdk/iomt"
)

func TestTopicRoundTrip(t *testing.T) {
	for _, k := range iomt.Kinds() {
		topic := Topic(testDev, k)
		if topic != "iomt/v1/"+testDev.String()+"/telemetry/"+string(k) {
			t.Fatalf("Topic = %q", topic)
		}
		dev, kind, err := ParseTopic(topic)
		if err != nil || dev != testDev || kind != k {
			t.Fatalf("ParseTopic(%q) = %v %v %v", topic, dev, kind, err)
		}
	}
	ota := OTAStatusTopic(testDev)
	if ota != "iomt/v1/"+testDev.String()+"/ota/status" {
		t.Fatalf("OTAStatusTopic = %q", ota)
	}
	if dev, err := ParseOTAStatusTopic(ota); err != nil || dev != testDev {
		t.Fatalf("ParseOTAStatusTopic: %v %v", dev, err)
	}
}

func TestParseTopicRejects(t *testing.T) {
	d := testDev.String()
	for _, topic := range []string{
		"", "iomt/v1", "iomt/v1/" + d, "iomt/v1/" + d + "/telemetry/",
		"iomt/v1/" + d + "/telemetry/weight",
		"iomt/v1/" + strings.ToUpper(d) + "/telemetry/glucose",
		"iomt/v2/" + d + "/telemetry/glucose",
		"/iomt/v1/" + d + "/telemetry/glucose",
		"iomt/v1/" + d + "/telemetry/glucose/",
		"iomt/v1/+/telemetry/+",
		"iomt/v1/" + d + "/ota/status",
		"$share/g/iomt/v1/" + d + "/telemetry/glucose",
	} {
		if _, _, err := ParseTopic(topic); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("ParseTopic(%q): %v", topic, err)
		}
	}
	for _, topic := range []string{"", "iomt/v1/" + d + "/ota/status/x", "iomt/v1/" + d + "/telemetry/glucose"} {
		if _, err := ParseOTAStatusTopic(topic); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("ParseOTAStatusTopic(%q): %v", topic, err)
		}
	}
}

func TestSharedSubscription(t *testing.T) {
	s, err := SharedSubscription("ingest")
	if err != nil || s != "$share/ingest/iomt/v1/+/telemetry/+" {
		t.Fatalf("%q %v", s, err)
	}
	for _, g := range []string{"", "a/b", "a+", "#", "a b", "é", strings.Repeat("g", MaxShareGroupLen+1)} {
		if _, err := SharedSubscription(g); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("group %q: %v", g, err)
		}
	}
}
