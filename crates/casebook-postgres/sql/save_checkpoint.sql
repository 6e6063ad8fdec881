INSERT INTO checkpoints (name, position, state)
VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE
    SET position = EXCLUDED.position,
        state = EXCLUDED.state
