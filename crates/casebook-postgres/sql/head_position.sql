SELECT position FROM log_head
