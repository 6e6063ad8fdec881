SELECT global_position, stream_id, stream_version, event_id, event_type, schema_version,
       recorded_at, recorded_at_ns, actor, tenant, correlation_id, causation_id, payload,
       personal_data, payload_crc32
FROM events
WHERE global_position > $1
ORDER BY global_position
LIMIT $2
