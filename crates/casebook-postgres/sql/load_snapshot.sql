SELECT stream_id, version, schema_version, state FROM snapshots WHERE stream_id = $1
