"""Development-only tools: local stand-ins for AWS and Optibase, event signing. Never deployed."""
