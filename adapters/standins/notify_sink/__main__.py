"""`python -m adapters.standins.notify_sink --port 8026 --service-id <uuid> --secret <uuid>`."""

from adapters.standins.notify_sink.app import run_from_command_line

run_from_command_line()
