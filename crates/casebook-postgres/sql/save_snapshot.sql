-- A snapshot older than the stored one is ignored (the WHERE of the update).
INSERT INTO snapshots (stream_id, version, schema_version, state)
VALUES ($1, $2, $3, $4)
ON CONFLICT (stream_id) DO UPDATE
    SET version = EXCLUDED.version,
        schema_version = EXCLUDED.schema_version,
        state = EXCLUDED.state
    WHERE snapshots.version <= EXCLUDED.version
