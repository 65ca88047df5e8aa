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
// [MaxCampaignDevices]; [Campaign.Snapshot] and [RestoreCampaign] move it to
// and from durable storage so no process has to keep it.
package release
