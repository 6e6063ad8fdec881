SELECT name, position, state FROM checkpoints WHERE name = $1
