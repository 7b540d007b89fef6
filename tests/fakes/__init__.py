"""Fakes of outside services (real servers on loopback) shared by the test suites."""
