# Solution of exercise 02.1: your own connection, made with Airflow's official REST client.
# The password goes from its file into the request body, and nowhere else (not printed, not on a command line).
body = ConnectionBody(
    connection_id="my_postgres",
    conn_type="postgres",
    description="My own connection to the lab's source database (notebook 02)",
    host=pg.host,
    port=pg.port,
    var_schema=pg.var_schema,             # `schema` in Airflow's UI and REST API: the database, airline_db
    login=pg.login,
    password=PG_PASSWORD_FILE.read_text().strip(),
)
conn_api = ConnectionApi(client)
try:
    conn_api.delete_connection("my_postgres")      # running the cell twice is harmless
except NotFoundException:
    pass
created = conn_api.post_connection(body)
print(created.connection_id, created.conn_type, created.host, created.port, created.var_schema, created.login)
