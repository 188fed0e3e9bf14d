deferrable=True,                             # poll from the triggerer: the worker slot is free meanwhile
