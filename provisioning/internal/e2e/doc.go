// Package e2e holds the end-to-end test of provisioning: factory, phone
// registration, BLE pairing, HTTPS enrolment, mutual-TLS MQTT publishing
// and revocation, against a real Mosquitto. It has no non-test code.
package e2e
