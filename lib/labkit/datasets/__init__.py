"""The lab's data: the workshop's dummy table (`dummy`) and the EMR job's raw retail parquet (`retail`)."""
