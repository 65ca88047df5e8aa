package telemetry

import (
	"fmt"
	"strings"

	"github.com/openiomt/sdk/iomt"
)

// MQTT topic layout, per the SDK's topic contract.
const (
	// TopicRoot is the first two levels of every openiomt topic.
	TopicRoot = "iomt/v1"
	// TelemetryFilter matches every device's readings of every kind.
	TelemetryFilter = TopicRoot + "/+/telemetry/+"
	// MaxShareGroupLen bounds the shared-subscription group name.
	MaxShareGroupLen = 64
)

// Topic returns the topic a device publishes readings of kind on:
// iomt/v1/{dev}/telemetry/{kind}.
func Topic(dev iomt.DeviceID, kind iomt.Kind) string {
	return TopicRoot + "/" + dev.String() + "/telemetry/" + string(kind)
}

// OTAStatusTopic returns the topic a device reports update status on:
// iomt/v1/{dev}/ota/status.
func OTAStatusTopic(dev iomt.DeviceID) string {
	return TopicRoot + "/" + dev.String() + "/ota/status"
}

// ParseTopic parses a telemetry topic of the form returned by [Topic]. The
// device ID must be canonical and the kind defined; anything else fails
// with [ErrInvalidTopic].
func ParseTopic(topic string) (iomt.DeviceID, iomt.Kind, error) {
	const pre, mid = TopicRoot + "/", "/telemetry/"
	if len(topic) < len(pre)+36+len(mid) || topic[:len(pre)] != pre || topic[len(pre)+36:len(pre)+36+len(mid)] != mid {
		return iomt.DeviceID{}, "", fmt.Errorf("%w: not %s/{device}/telemetry/{kind}", ErrInvalidTopic, TopicRoot)
	}
	dev, err := iomt.ParseDeviceID(topic[len(pre) : len(pre)+36])
	if err != nil {
		return iomt.DeviceID{}, "", fmt.Errorf("%w: device segment", ErrInvalidTopic)
	}
	kind, err := iomt.ParseKind(topic[len(pre)+36+len(mid):])
	if err != nil {
		return iomt.DeviceID{}, "", fmt.Errorf("%w: kind segment", ErrInvalidTopic)
	}
	return dev, kind, nil
}

// ParseOTAStatusTopic parses a topic of the form returned by [OTAStatusTopic].
func ParseOTAStatusTopic(topic string) (iomt.DeviceID, error) {
	const pre, suf = TopicRoot + "/", "/ota/status"
	if len(topic) != len(pre)+36+len(suf) || topic[:len(pre)] != pre || topic[len(pre)+36:] != suf {
		return iomt.DeviceID{}, fmt.Errorf("%w: not %s/{device}/ota/status", ErrInvalidTopic, TopicRoot)
	}
	dev, err := iomt.ParseDeviceID(topic[len(pre) : len(pre)+36])
	if err != nil {
		return iomt.DeviceID{}, fmt.Errorf("%w: device segment", ErrInvalidTopic)
	}
	return dev, nil
}

// SharedSubscription returns the MQTT v5 shared-subscription filter
// $share/{group}/iomt/v1/+/telemetry/+ that ingest workers of one group
// subscribe with, so that the broker spreads readings across them. group
// must be 1–[MaxShareGroupLen] printable ASCII characters other than
// space, '/', '+' and '#'.
func SharedSubscription(group string) (string, error) {
	if group == "" || len(group) > MaxShareGroupLen || strings.ContainsAny(group, "/+#") {
		return "", fmt.Errorf("%w: share group", ErrInvalidTopic)
	}
	for i := 0; i < len(group); i++ {
		if group[i] < 0x21 || group[i] >= 0x7f {
			return "", fmt.Errorf("%w: share group", ErrInvalidTopic)
		}
	}
	return "$share/" + group + "/" + TelemetryFilter, nil
}
