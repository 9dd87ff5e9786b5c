"""The org service: calferry for every technician of an MSP, on PostgreSQL and procrastinate workers.

See docs/org-mode.md. Needs the ``org`` extra (procrastinate, psycopg, argon2-cffi).
"""
