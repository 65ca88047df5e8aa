package ingest

import "github.com/prometheus/client_golang/prometheus"

// metrics are one worker's Prometheus collectors, all labelled
// worker=ClientID so several workers can share a registry.
type metrics struct {
	received, stored, duplicates prometheus.Counter
	commitFailures               prometheus.Counter
	deadLetterFailures           prometheus.Counter
	rejected                     *prometheus.CounterVec
	commitSeconds                prometheus.Histogram
}

func newMetrics(worker string) *metrics {
	l := prometheus.Labels{"worker": worker}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "iomt", Subsystem: "ingest", Name: name, Help: help, ConstLabels: l})
	}
	return &metrics{
		received:           c("received_total", "MQTT messages received."),
		stored:             c("stored_total", "Readings newly stored."),
		duplicates:         c("duplicates_total", "Readings already stored (redeliveries), skipped."),
		commitFailures:     c("commit_failures_total", "Store commits that failed and were retried."),
		deadLetterFailures: c("dead_letter_failures_total", "Rejected messages that could not be published to the dead-letter topic."),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "iomt", Subsystem: "ingest", Name: "rejected_total",
			Help: "Messages rejected, by reason; each is acknowledged.", ConstLabels: l}, []string{"reason"}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "iomt", Subsystem: "ingest", Name: "commit_seconds",
			Help: "Latency of one store commit (a batch).", ConstLabels: l,
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
	}
}

func (m *metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.received, m.stored, m.duplicates, m.commitFailures, m.deadLetterFailures, m.rejected, m.commitSeconds}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for i, c := range m.all() {
		if err := r.Register(c); err != nil {
			for _, d := range m.all()[:i] {
				r.Unregister(d)
			}
			return err
		}
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) {
	for _, c := range m.all() {
		r.Unregister(c)
	}
}
