"""The HTTP door: FastAPI routes that parse, authorise, call the service and shape the answer."""
