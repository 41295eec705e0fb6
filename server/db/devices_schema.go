package db

// The unmanaged-device tables (server/devices): network observations,
// evidence checkpoints, exemptions, API observation batches and the
// policy-exemption import. They have their own version table,
// devices_schema, because they were added to databases the collector
// schema had already migrated; MigrateDevices runs them with the same
// engine as the collector schema.

// deviceMigrations are applied in order and never edited once released.
var deviceMigrations = []migration{
	{version: 1, name: "device tables", sql: deviceSchemaV1},
	{version: 2, name: "exemption source, observation batches, policy import", sql: deviceSchemaV2},
}

const deviceSchemaV1 = `
CREATE TABLE net_observations (
  source TEXT NOT NULL,
  ip TEXT NOT NULL,
  mac TEXT NOT NULL,
  hostname TEXT NOT NULL,
  evidence TEXT NOT NULL,
  day BIGINT NOT NULL,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  n BIGINT NOT NULL,
  lease_end BIGINT NOT NULL,
  PRIMARY KEY (source, ip, mac, hostname, evidence, day)
);
CREATE INDEX net_observations_ip ON net_observations (ip);
CREATE INDEX net_observations_mac ON net_observations (mac);
CREATE INDEX net_observations_last_seen ON net_observations (last_seen);
CREATE TABLE evidence_checkpoints (
  key TEXT PRIMARY KEY,
  format TEXT NOT NULL,
  path TEXT NOT NULL,
  byte_offset BIGINT NOT NULL,
  prefix_len BIGINT NOT NULL,
  prefix_hash TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE device_exemptions (
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  reason TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (kind, value)
)`

// deviceSchemaV2 marks where an exemption came from (an administrator, or the
// signed policy), remembers which policy serial was imported, and keeps
// the batch ids of observations posted over the API (exactly once).
const deviceSchemaV2 = `
ALTER TABLE device_exemptions ADD COLUMN source TEXT NOT NULL DEFAULT 'admin';
CREATE TABLE observation_batches (
  batch_id TEXT PRIMARY KEY,
  n BIGINT NOT NULL,
  received_at BIGINT NOT NULL
);
CREATE INDEX observation_batches_received_at ON observation_batches (received_at);
CREATE TABLE devices_policy_import (
  id INTEGER PRIMARY KEY,
  serial BIGINT NOT NULL,
  exemptions BIGINT NOT NULL,
  skipped BIGINT NOT NULL,
  imported_at BIGINT NOT NULL
)`
