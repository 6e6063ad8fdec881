-- Casebook PostgreSQL schema, version 2: appends of several callers in one transaction.
--
-- Runs inside the migration transaction with search_path set to the store's schema.
--
-- append_group applies a group of appends ("members", sorted by stream id in byte order,
-- the members of one stream in the order their callers queued) as one statement, so one transaction, one take of the log_head lock and one commit (one WAL
-- flush) for the whole group. Each member keeps the meaning of a lone append:
--
-- * it checks its own expected version against its stream as left by the members before
--   it (p_expected: -1 for "any version", otherwise the exact version, 0 for "no
--   stream");
-- * it is written whole or not at all, and a member that fails (version conflict,
--   duplicate event id, any other error about its rows) writes nothing, consumes no
--   position and leaves the other members alone;
-- * one row per member comes back, in member order: its first position and new version,
--   or the SQLSTATE, message, detail and constraint of its error together with its
--   stream's version at that point ('CB409' is a version conflict).
--
-- The store sends a group of one to append_events instead (the same steps for a single
-- append, without the bookkeeping of members, so cheaper on the server).
--
-- Errors that are not about one member's rows (statement timeout, cancel, a dropped
-- connection, a malformed call) abort the statement, so the whole group writes nothing.
--
-- Locks: the group's stream head rows (missing ones inserted, then all locked, each step
-- in byte order of the ids, so two groups with streams in common cannot deadlock), then
-- log_head, held to commit; append_events also takes its stream row before log_head.
-- See the crate's `global_order` module for why that keeps positions gap-free and in
-- commit order.
CREATE FUNCTION append_group(
    p_channel         text,
    p_streams         text[],     -- per member
    p_expected        bigint[],   -- per member
    p_counts          integer[],  -- per member: how many events it carries
    p_event_ids       uuid[],     -- per event, members' events one after another
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
) RETURNS TABLE (
    member_index     integer,
    first_position   bigint,
    new_version      bigint,
    actual_version   bigint,
    error_code       text,
    error_message    text,
    error_detail     text,
    error_constraint text
)
LANGUAGE plpgsql
-- The statements below take arrays as parameters. With custom plans (the default for the
-- first calls, and for good when they look cheaper), each call would plan them again;
-- their generic plans are as good and measured faster.
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    v_members   integer := coalesce(cardinality(p_streams), 0);
    v_events    integer := 0;
    -- Arrays start NULL: an element never assigned reads as NULL.
    v_names     text[];              -- the group's distinct streams, in lock order
    v_locked    bigint[];            -- their versions when locked
    v_created   boolean[];           -- whether this transaction inserted their head row
    v_version   bigint[];            -- their versions as members are applied
    v_stream    integer[];           -- per member: its stream's index in v_names
    v_start     integer[];           -- per member: ordinal of its first event
    v_member    integer[];           -- per event: its member
    v_offset    bigint[];            -- per member: first position - head - 1; NULL: failed
    v_base      bigint[];            -- per member: its stream's version before it
    v_actual    bigint[];            -- per member that failed: its stream's version then
    v_code      text[];              -- per member that failed: its error
    v_message   text[];
    v_detail    text[];
    v_constr    text[];
    v_e_code    text;                -- the error of the member that just failed
    v_e_message text;
    v_e_detail  text;
    v_e_constr  text;
    v_used      bigint := 0;         -- positions handed out so far
    v_head      bigint;              -- log_head before this group
    v_slow      boolean := false;
    v_new       text[];              -- the streams whose head row this group inserted
    k           integer;
BEGIN
    IF v_members = 0
       OR cardinality(p_expected) IS DISTINCT FROM v_members
       OR cardinality(p_counts) IS DISTINCT FROM v_members THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'append_group: the member arrays do not line up';
    END IF;
    -- Members come sorted by stream (byte order, the order streams are locked in), the
    -- members of one stream in the order their callers queued.
    FOR m IN 1 .. v_members LOOP
        IF p_streams[m] IS NULL OR p_expected[m] IS NULL OR p_counts[m] IS NULL
           OR p_counts[m] < 1 THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('append_group: member %s is malformed', m);
        END IF;
        IF m = 1 OR p_streams[m] <> p_streams[m - 1] THEN
            IF m > 1 AND p_streams[m] COLLATE "C" < p_streams[m - 1] COLLATE "C" THEN
                RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                    MESSAGE = 'append_group: members are not sorted by stream';
            END IF;
            k := coalesce(cardinality(v_names), 0) + 1;
            v_names[k] := p_streams[m];
        END IF;
        v_stream[m] := k;
        v_start[m] := v_events + 1;
        v_events := v_events + p_counts[m];
        v_member := v_member || array_fill(m, ARRAY[p_counts[m]]);
    END LOOP;
    IF cardinality(p_event_ids) IS DISTINCT FROM v_events
       OR cardinality(p_event_types) IS DISTINCT FROM v_events
       OR cardinality(p_schema_versions) IS DISTINCT FROM v_events
       OR cardinality(p_recorded_at) IS DISTINCT FROM v_events
       OR cardinality(p_recorded_at_ns) IS DISTINCT FROM v_events
       OR cardinality(p_actors) IS DISTINCT FROM v_events
       OR cardinality(p_tenants) IS DISTINCT FROM v_events
       OR cardinality(p_correlation_ids) IS DISTINCT FROM v_events
       OR cardinality(p_causation_ids) IS DISTINCT FROM v_events
       OR cardinality(p_payloads) IS DISTINCT FROM v_events
       OR cardinality(p_personal_data) IS DISTINCT FROM v_events
       OR cardinality(p_payload_crc32s) IS DISTINCT FROM v_events THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'append_group: the event arrays do not match the members'' counts';
    END IF;

    -- 1. Lock every stream head of the group. First the streams without a head row get
    --    one at version 0, in byte order of the ids (the insert is the lock; it waits for
    --    another transaction inserting the same stream); step 6 removes those left
    --    unused. Then every head row is locked, in the same order. (Committed head rows
    --    are never deleted, so the second statement finds them all.)
    WITH created AS (
        INSERT INTO streams (stream_id, version)
        SELECT n, 0 FROM unnest(v_names) AS n
        ON CONFLICT (stream_id) DO NOTHING
        RETURNING stream_id)
    SELECT array_agg(c.stream_id) INTO v_new FROM created AS c;
    SELECT array_agg(l.version ORDER BY l.stream_id COLLATE "C") INTO v_locked
    FROM (SELECT s.stream_id, s.version FROM streams s
          WHERE s.stream_id = ANY(v_names)
          ORDER BY s.stream_id COLLATE "C" FOR UPDATE) AS l;
    IF cardinality(v_locked) IS DISTINCT FROM cardinality(v_names) THEN
        RAISE EXCEPTION 'append_group: a stream head row went missing';
    END IF;
    FOR i IN 1 .. cardinality(v_names) LOOP
        v_created[i] := v_new IS NOT NULL AND v_names[i] = ANY(v_new);
    END LOOP;

    -- 2. Check each member's expected version in order, and give those that pass their
    --    place after the head: positions are relative until the head is locked.
    v_version := v_locked;
    FOR m IN 1 .. v_members LOOP
        k := v_stream[m];
        IF p_expected[m] >= 0 AND v_version[k] <> p_expected[m] THEN
            v_actual[m] := v_version[k];
            v_code[m] := 'CB409';
            v_message[m] := 'stream version conflict';
            v_detail[m] := v_version[k]::text;
        ELSE
            v_offset[m] := v_used;
            v_base[m] := v_version[k];
            v_used := v_used + p_counts[m];
            v_version[k] := v_version[k] + p_counts[m];
        END IF;
    END LOOP;

    -- 3. The new stream versions (they do not depend on positions, so they are written
    --    before the counter is taken, to hold it for less).
    UPDATE streams s SET version = v_version[array_position(v_names, s.stream_id)]
    WHERE s.stream_id = ANY(v_names)
      AND s.version <> v_version[array_position(v_names, s.stream_id)];

    -- 4. Take the counter (its row lock is held to commit: from here on the global order
    --    is serialised) and insert the events of every member that passed in one
    --    statement. The insert is a subtransaction: if any row fails (a duplicate event
    --    id, most likely), nothing of it stays and step 5 redoes the group member by
    --    member. A group in which every member conflicts never takes the counter.
    IF v_used > 0 THEN
        UPDATE log_head SET position = position + v_used
            RETURNING position - v_used INTO v_head;
        BEGIN
            INSERT INTO events (
                global_position, stream_id, stream_version, event_id, event_type,
                schema_version, recorded_at, recorded_at_ns, actor, tenant, correlation_id,
                causation_id, payload, personal_data, payload_crc32)
            SELECT v_head + v_offset[t.member] + 1 + (t.ord - v_start[t.member]),
                   p_streams[t.member],
                   v_base[t.member] + 1 + (t.ord - v_start[t.member]), t.event_id,
                   t.event_type, t.schema_version, t.recorded_at, t.recorded_at_ns, t.actor,
                   t.tenant, t.correlation_id, t.causation_id, t.payload, t.personal_data,
                   t.payload_crc32
            FROM unnest(v_member, p_event_ids, p_event_types, p_schema_versions,
                        p_recorded_at, p_recorded_at_ns, p_actors, p_tenants,
                        p_correlation_ids, p_causation_ids, p_payloads, p_personal_data,
                        p_payload_crc32s)
                 WITH ORDINALITY AS t(member, event_id, event_type, schema_version,
                                      recorded_at, recorded_at_ns, actor, tenant,
                                      correlation_id, causation_id, payload, personal_data,
                                      payload_crc32, ord)
            WHERE v_offset[t.member] IS NOT NULL;
        EXCEPTION WHEN OTHERS THEN
            v_slow := true;
        END;
    END IF;

    -- 5. Member by member, each insert in a subtransaction of its own: a member whose
    --    rows fail is rolled back alone and reported with its error; the members after it
    --    are checked against the versions as they now are and get the positions it did
    --    not use. (Plain variables are not rolled back with a subtransaction, so they are
    --    advanced only after the member's insert succeeded.) The counter, still locked, and
    --    the stream versions are then set to what was really used.
    IF v_slow THEN
        v_version := v_locked;
        v_used := 0;
        FOR m IN 1 .. v_members LOOP
            k := v_stream[m];
            v_offset[m] := NULL;
            v_base[m] := NULL;
            v_actual[m] := NULL;
            v_code[m] := NULL;
            v_message[m] := NULL;
            v_detail[m] := NULL;
            v_constr[m] := NULL;
            IF p_expected[m] >= 0 AND v_version[k] <> p_expected[m] THEN
                v_actual[m] := v_version[k];
                v_code[m] := 'CB409';
                v_message[m] := 'stream version conflict';
                v_detail[m] := v_version[k]::text;
                CONTINUE;
            END IF;
            BEGIN
                INSERT INTO events (
                    global_position, stream_id, stream_version, event_id, event_type,
                    schema_version, recorded_at, recorded_at_ns, actor, tenant,
                    correlation_id, causation_id, payload, personal_data, payload_crc32)
                SELECT v_head + v_used + 1 + (t.ord - v_start[m]), p_streams[m],
                       v_version[k] + 1 + (t.ord - v_start[m]), t.event_id, t.event_type,
                       t.schema_version, t.recorded_at, t.recorded_at_ns, t.actor, t.tenant,
                       t.correlation_id, t.causation_id, t.payload, t.personal_data,
                       t.payload_crc32
                FROM unnest(v_member, p_event_ids, p_event_types, p_schema_versions,
                            p_recorded_at, p_recorded_at_ns, p_actors, p_tenants,
                            p_correlation_ids, p_causation_ids, p_payloads, p_personal_data,
                            p_payload_crc32s)
                     WITH ORDINALITY AS t(member, event_id, event_type, schema_version,
                                          recorded_at, recorded_at_ns, actor, tenant,
                                          correlation_id, causation_id, payload,
                                          personal_data, payload_crc32, ord)
                WHERE t.member = m;
                v_offset[m] := v_used;
                v_base[m] := v_version[k];
                v_used := v_used + p_counts[m];
                v_version[k] := v_version[k] + p_counts[m];
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS
                    v_e_code = RETURNED_SQLSTATE,
                    v_e_message = MESSAGE_TEXT,
                    v_e_detail = PG_EXCEPTION_DETAIL,
                    v_e_constr = CONSTRAINT_NAME;
                v_code[m] := v_e_code;
                v_message[m] := v_e_message;
                v_detail[m] := v_e_detail;
                v_constr[m] := v_e_constr;
                v_actual[m] := v_version[k];
            END;
        END LOOP;
        UPDATE log_head SET position = v_head + v_used;
        UPDATE streams s SET version = v_version[array_position(v_names, s.stream_id)]
        WHERE s.stream_id = ANY(v_names)
          AND s.version <> v_version[array_position(v_names, s.stream_id)];
    END IF;

    -- 6. Head rows this group created and did not use go; one notification for the
    --    whole group, delivered when (and only if) the transaction commits.
    FOR i IN 1 .. cardinality(v_names) LOOP
        IF v_created[i] AND v_version[i] = 0 THEN
            DELETE FROM streams WHERE stream_id = v_names[i];
        END IF;
    END LOOP;
    IF v_used > 0 THEN
        PERFORM pg_notify(p_channel, (v_head + v_used)::text);
    END IF;

    FOR m IN 1 .. v_members LOOP
        member_index := m;
        first_position := v_head + v_offset[m] + 1;
        new_version := v_base[m] + p_counts[m];
        actual_version := v_actual[m];
        error_code := v_code[m];
        error_message := v_message[m];
        error_detail := v_detail[m];
        error_constraint := v_constr[m];
        RETURN NEXT;
    END LOOP;
END;
$fn$;
