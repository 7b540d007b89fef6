"""Operating a kameng: key rotation, backup and restore, the doctor (``kameng keys``,
``kameng backup``, ``kameng restore``, ``kameng doctor``)."""
