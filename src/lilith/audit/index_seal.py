"""The seal of the query index: a digest of everything in it, so an index edited behind Lilith's back (rows
deleted, a deny relabelled as an allow, a file's resume point moved past records) is rebuilt, never trusted.

Per file of the set, the digest of its rows in log order is kept in ``files.rows_digest``; the digest of the
files table (resume points and row digests) is the seal. Both are keyed with a key derived from the audit key
when one is at hand, so only its holder can seal an index; without a key they are plain digests, which still
catch damage and an edit made without redoing them (a limit said in docs/audit.md). Checking reads every row
of the index (no record is read from the log): about 3 µs a record. Rows appended since are hashed as they are
inserted, continuing the digests the check computed, so an update never reads the index twice.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from typing import Any

import orjson

_CHUNK = 20_000
_LABEL = b"lilith audit query index seal v1"
FILE_COLUMNS = "id, dev, ino, indexed_to, last_start, last_hash, rows_digest"


class SealBrokenError(Exception):
    """The index does not hold what it was sealed with."""


class IndexSeal:
    def __init__(self, audit_key: bytes | None) -> None:
        # A key of its own, derived: the audit key itself never signs anything but records.
        self._key = hmac.digest(audit_key, _LABEL, "sha256") if audit_key is not None else b""

    def fresh(self) -> Any:
        """The digest of a file with no rows yet, ready to take its rows in log order."""
        return hashlib.blake2b(digest_size=32, key=self._key, person=b"rows")

    def check(self, db: sqlite3.Connection) -> dict[int, Any]:
        """Recompute every file's row digest and the seal; SealBrokenError unless they are what was stored.
        Returns each file's digest, to be continued with the rows indexed next."""
        files = _file_rows(db)
        stored = db.execute("SELECT digest FROM seal").fetchall()
        if not stored:
            if files or db.execute("SELECT 1 FROM records LIMIT 1").fetchone():
                raise SealBrokenError("rows without a seal")
            return {}
        digests = self._digests(db, files)
        for file in files:
            if file[-1] != digests[file[0]].hexdigest():
                raise SealBrokenError("a file's rows are not the rows it was sealed with")
        if len(stored) != 1 or stored[0][0] != self._files_digest(files):
            raise SealBrokenError("the files table is not the one it was sealed with")
        return digests

    def add(self, digest: Any, rows: list[tuple[Any, ...]]) -> None:
        """Continue a file's digest with rows appended after all its others."""
        digest.update(_rows_bytes(rows))

    def rescan(self, db: sqlite3.Connection) -> dict[int, Any]:
        """Every file's digest from its rows as they are now (after rows were changed in place)."""
        return self._digests(db, _file_rows(db))

    def _digests(self, db: sqlite3.Connection, files: list[tuple[Any, ...]]) -> dict[int, Any]:
        digests: dict[int, Any] = {file[0]: self.fresh() for file in files}
        cursor = db.execute("SELECT * FROM records ORDER BY file_id, pos")
        while chunk := cursor.fetchmany(_CHUNK):
            start = 0
            while start < len(chunk):  # the chunk's runs of rows of one file
                file_id = chunk[start][0]
                end = start + 1
                while end < len(chunk) and chunk[end][0] == file_id:
                    end += 1
                digest = digests.get(file_id)
                if digest is None:
                    raise SealBrokenError("rows of a file the index does not know")
                digest.update(_rows_bytes(chunk[start:end]))
                start = end
        return digests

    def store(self, db: sqlite3.Connection, digests: dict[int, Any]) -> None:
        """Seal the index as it is now: each file's row digest, then the files table."""
        for file in _file_rows(db):
            digest = digests[file[0]] if file[0] in digests else self.fresh()
            db.execute("UPDATE files SET rows_digest = ? WHERE id = ?", (digest.hexdigest(), file[0]))
        db.execute("DELETE FROM seal")
        db.execute("INSERT INTO seal (digest) VALUES (?)", (self._files_digest(_file_rows(db)),))

    def _files_digest(self, files: list[tuple[Any, ...]]) -> str:
        digest = hashlib.blake2b(digest_size=32, key=self._key, person=b"files")
        for file in files:
            digest.update(_rows_bytes([file]))
        return digest.hexdigest()


def stored_text(data: bytes) -> str | bytes:
    """SQLite's text as str (the connection's text factory); text that is not UTF-8, only ever in a damaged
    index, as bytes, which fails the seal instead of stopping the query."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


def _file_rows(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """The files table without names: a name is only where a file was last seen, and updated every time."""
    return db.execute(f"SELECT {FILE_COLUMNS} FROM files ORDER BY id").fetchall()  # noqa: S608 - fixed columns


def _rows_bytes(rows: list[tuple[Any, ...]]) -> bytes:
    """Rows as JSON, each followed by a comma: the same bytes however the rows are split into batches. JSON
    tells 5 from 5.0 from "5" (SQLite keeps whatever type it was given, and a comparison of another type would
    miss); a value JSON cannot hold (a BLOB, text that is not UTF-8) is only ever in a damaged index. (An
    infinity is written as null: no indexed value is infinite, so a planted one can only add a hit, which the
    read-back check refuses.)"""
    if not rows:
        return b""
    try:
        return orjson.dumps(rows)[1:-1] + b","
    except TypeError:
        raise SealBrokenError("a value no indexed record has") from None
