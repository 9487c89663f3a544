from memory_server.cli import app

app()
