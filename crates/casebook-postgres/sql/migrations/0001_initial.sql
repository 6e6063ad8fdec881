-- Casebook PostgreSQL schema, version 1.
--
-- Runs inside the migration transaction with search_path set to the store's schema, so
-- every name below is created in that schema.

-- The single-row counter that hands out global positions. Every append updates this row
-- inside its own transaction; the row lock it takes is held until the append commits or
-- rolls back, which is what makes global positions gap-free and in commit order (see the
-- `order` module of the crate for the argument).
CREATE TABLE log_head (
    id       boolean PRIMARY KEY DEFAULT true CHECK (id),
    position bigint  NOT NULL CHECK (position >= 0)
);
INSERT INTO log_head (id, position) VALUES (true, 0);

-- The head of every stream: its current version. Appends lock this row, so writers on
-- one stream queue here and check their expected version against the committed value.
CREATE TABLE streams (
    stream_id text   PRIMARY KEY,
    version   bigint NOT NULL CHECK (version >= 0)
);

-- The log. (stream_id, stream_version) is unique: the last line of defence for
-- optimistic concurrency should the head table ever be bypassed.
CREATE TABLE events (
    global_position   bigint      PRIMARY KEY CHECK (global_position > 0),
    stream_id         text        NOT NULL,
    stream_version    bigint      NOT NULL CHECK (stream_version > 0),
    event_id          uuid        NOT NULL,
    event_type        text        NOT NULL,
    schema_version    bigint      NOT NULL,
    -- Microsecond part in the timestamptz, the remaining nanoseconds (0..999) beside it,
    -- so that the writer's timestamp comes back exactly.
    recorded_at       timestamptz NOT NULL,
    recorded_at_ns    integer     NOT NULL CHECK (recorded_at_ns BETWEEN 0 AND 999),
    actor             text        NOT NULL,
    tenant            text,
    correlation_id    uuid        NOT NULL,
    causation_id      uuid,
    -- JSON text, byte for byte as written (jsonb would reorder keys and refuses \u0000).
    payload           text        NOT NULL,
    -- JSON array of JSON pointers.
    personal_data     text        NOT NULL,
    -- CRC-32 of the payload bytes, checked on every read.
    payload_crc32     bigint      NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);

CREATE TABLE snapshots (
    stream_id      text    PRIMARY KEY,
    version        bigint  NOT NULL CHECK (version >= 0),
    schema_version bigint  NOT NULL,
    state          text    NOT NULL
);

CREATE TABLE checkpoints (
    name     text   PRIMARY KEY,
    position bigint NOT NULL CHECK (position >= 0),
    state    text   NOT NULL
);

-- One append, as one statement and therefore one transaction and one round trip.
--
-- p_expected: -1 for "any version", otherwise the exact version the stream must be at
-- (0 for "no stream"). On a mismatch it raises SQLSTATE 'CB409' with the actual version
-- as the DETAIL, and the whole statement (so the whole append) rolls back.
--
-- Lock order is always: the stream's head row, then log_head. Writers on different
-- streams check their versions in parallel and queue only for the position counter.
CREATE FUNCTION append_events(
    p_stream          text,
    p_expected        bigint,
    p_channel         text,
    p_event_ids       uuid[],
    p_event_types     text[],
    p_schema_versions bigint[],
    p_recorded_at     timestamptz[],
    p_recorded_at_ns  integer[],
    p_actors          text[],
    p_tenants         text[],
    p_correlation_ids uuid[],
    p_causation_ids   uuid[],
    p_payloads        text[],
    p_personal_data   text[],
    p_payload_crc32s  bigint[]
) RETURNS TABLE (first_position bigint, new_version bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_count   bigint := cardinality(p_event_ids);
    v_current bigint;
    v_head    bigint;
BEGIN
    SELECT s.version INTO v_current FROM streams s WHERE s.stream_id = p_stream FOR UPDATE;
    IF NOT FOUND THEN
        v_current := 0;
    END IF;
    IF p_expected >= 0 AND v_current <> p_expected THEN
        RAISE EXCEPTION USING ERRCODE = 'CB409', MESSAGE = 'stream version conflict',
            DETAIL = v_current::text;
    END IF;

    IF v_current = 0 THEN
        INSERT INTO streams (stream_id, version) VALUES (p_stream, v_count)
            ON CONFLICT (stream_id) DO NOTHING;
        IF NOT FOUND THEN
            -- Another writer created the stream between our read and our insert (the
            -- insert waited for it to commit). Lock the row it made and check again.
            SELECT s.version INTO v_current FROM streams s WHERE s.stream_id = p_stream FOR UPDATE;
            IF p_expected >= 0 AND v_current <> p_expected THEN
                RAISE EXCEPTION USING ERRCODE = 'CB409', MESSAGE = 'stream version conflict',
                    DETAIL = v_current::text;
            END IF;
            UPDATE streams SET version = v_current + v_count WHERE stream_id = p_stream;
        END IF;
    ELSE
        UPDATE streams SET version = v_current + v_count WHERE stream_id = p_stream;
    END IF;

    -- From here until commit this transaction holds the log_head row lock: the global
    -- order is serialised, and positions are handed out in commit order.
    UPDATE log_head SET position = position + v_count RETURNING position - v_count INTO v_head;

    INSERT INTO events (
        global_position, stream_id, stream_version, event_id, event_type, schema_version,
        recorded_at, recorded_at_ns, actor, tenant, correlation_id, causation_id, payload,
        personal_data, payload_crc32)
    SELECT v_head + t.ord, p_stream, v_current + t.ord, t.event_id, t.event_type,
           t.schema_version, t.recorded_at, t.recorded_at_ns, t.actor, t.tenant,
           t.correlation_id, t.causation_id, t.payload, t.personal_data, t.payload_crc32
    FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_recorded_at,
                p_recorded_at_ns, p_actors, p_tenants, p_correlation_ids, p_causation_ids,
                p_payloads, p_personal_data, p_payload_crc32s)
         WITH ORDINALITY AS t(event_id, event_type, schema_version, recorded_at,
                              recorded_at_ns, actor, tenant, correlation_id, causation_id,
                              payload, personal_data, payload_crc32, ord);

    -- Delivered when (and only if) this transaction commits, in commit order.
    PERFORM pg_notify(p_channel, (v_head + v_count)::text);

    first_position := v_head + 1;
    new_version := v_current + v_count;
    RETURN NEXT;
END;
$fn$;
