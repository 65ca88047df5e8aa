// Package release is the release side of OTA updates: staged rollouts and a
// campaign view built from device status reports.
//
// Signing (roots, rotations, manifests) lives in package ota itself
// ([ota.SignRoot], [ota.SignRootRotation], [ota.SignManifest]) and in the
// "iomt ota" CLI; this package adds what a fleet operator needs next.
//
// # Staged rollout
//
// A [Rollout] selects a percentage cohort of devices by a stable hash of
// the campaign ID and the device ID: the same device always gets the same
// answer for a campaign, raising the percentage only adds devices, and
// different campaigns pick different cohorts, so the same devices are not
// always first.
//
// # Campaign view
//
// Devices report their update state on iomt/v1/{device}/ota/status.
// [ParseStatusReport] checks such a message (size limit, closed schema, the
// topic's device must be the payload's); [Campaign.Apply] folds it into the
// campaign, ignoring stale or replayed reports; [Campaign.View] counts
// devices per state and marks devices that never reported, or went silent
// mid-update, as timed out. The MQTT subscription is wired elsewhere.
//
// A Campaign holds one campaign's per-device state in memory, bounded by
// [MaxCampaignDevices].
//
// # Durable campaigns
//
// [Campaign.Record] captures a campaign (configuration, every device's
// state, and a revision that grows with each change); [RestoreRecord] turns
// a record back into a Campaign. A [CampaignStore] keeps records: the
// [FileStore] writes one JSON file per campaign atomically and durably
// (temporary file, fsync, rename, directory fsync), with a SHA-256 checksum
// and optionally an HMAC, parses it strictly under a size limit, and moves a
// torn, corrupt or tampered file to a quarantine directory with a typed
// [*CampaignFileError] instead of failing the whole cloud.
//
// Save the record after every applied report (and new offer), before the
// report is acknowledged to the broker: a report is then either durable or
// redelivered, never lost. Saves are ordered by revision, so concurrent
// handlers may each save their snapshot and the newest one wins.
// [Campaign.Snapshot] and [RestoreCampaign] remain for custom stores.
package release
