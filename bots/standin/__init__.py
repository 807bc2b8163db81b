"""Local stand-ins for remote chat APIs, for the demo and the tests."""
