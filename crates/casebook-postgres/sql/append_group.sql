SELECT member_index, first_position, new_version, actual_version, error_code, error_message,
       error_detail, error_constraint
FROM append_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
