"""The prediction log: its tables, its database, its writer and the spill file.

:mod:`.tables` defines the tables (the one definition), :mod:`.store` opens the database and
reads it, :mod:`.writer` buffers and writes rows off the request path, :mod:`.spill` keeps
what could not be written at shutdown; :mod:`.synthetic` writes a log without a service.
"""
