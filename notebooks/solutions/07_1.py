generate_interval_rows >> sqoop_import_interval
