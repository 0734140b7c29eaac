"""The registry contract (../shared/spec/registry-schema.md) as SQLAlchemy tables, and its check."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

registry_metadata = sa.MetaData()

area = sa.Table(
    "area", registry_metadata,
    sa.Column("area_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("parent_id", sa.Text, sa.ForeignKey("area.area_id")),
    sa.Column("population", sa.Integer),
)

access_point = sa.Table(
    "access_point", registry_metadata,
    sa.Column("access_point_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("area_id", sa.Text, sa.ForeignKey("area.area_id"), nullable=False),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
    sa.Column("opened_on", sa.Date),
)

household = sa.Table(
    "household", registry_metadata,
    sa.Column("household_id", sa.Text, primary_key=True),
    sa.Column("area_id", sa.Text, sa.ForeignKey("area.area_id"), nullable=False),
    sa.Column("registered_on", sa.Date, nullable=False),
    sa.Column("pmt_score", sa.Float),
    sa.Column("access_point_id", sa.Text, sa.ForeignKey("access_point.access_point_id")),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
)

person = sa.Table(
    "person", registry_metadata,
    sa.Column("person_id", sa.Text, primary_key=True),
    sa.Column("household_id", sa.Text, sa.ForeignKey("household.household_id"), nullable=False),
    sa.Column("national_id", sa.Text),
    sa.Column("first_name", sa.Text, nullable=False),
    sa.Column("last_name", sa.Text),
    sa.Column("father_name", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("sex", sa.Text, nullable=False),
    sa.Column("birth_date", sa.Date),
    sa.Column("disability", sa.Boolean, nullable=False),
    sa.Column("is_head", sa.Boolean, nullable=False),
    sa.Column("registered_on", sa.Date, nullable=False),
)

programme = sa.Table(
    "programme", registry_metadata,
    sa.Column("programme_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("agency", sa.Text),
    sa.Column("benefit_type", sa.Text, nullable=False),
    sa.Column("unit", sa.Text, nullable=False),
    sa.Column("pmt_max", sa.Float),
    sa.Column("age_min", sa.Integer),
    sa.Column("age_max", sa.Integer),
    sa.Column("sex", sa.Text),
    sa.Column("disability_only", sa.Boolean, nullable=False),
    sa.Column("exclusive_group", sa.Text),
    sa.Column("started_on", sa.Date),
)

enrolment = sa.Table(
    "enrolment", registry_metadata,
    sa.Column("enrolment_id", sa.Text, primary_key=True),
    sa.Column("programme_id", sa.Text, sa.ForeignKey("programme.programme_id"), nullable=False),
    sa.Column("household_id", sa.Text, sa.ForeignKey("household.household_id")),
    sa.Column("person_id", sa.Text, sa.ForeignKey("person.person_id")),
    sa.Column("enrolled_on", sa.Date, nullable=False),
    sa.Column("ended_on", sa.Date),
)

referral = sa.Table(
    "referral", registry_metadata,
    sa.Column("referral_id", sa.Text, primary_key=True),
    sa.Column("household_id", sa.Text, sa.ForeignKey("household.household_id"), nullable=False),
    sa.Column("person_id", sa.Text, sa.ForeignKey("person.person_id")),
    sa.Column("from_programme_id", sa.Text, sa.ForeignKey("programme.programme_id")),
    sa.Column("to_programme_id", sa.Text, sa.ForeignKey("programme.programme_id"), nullable=False),
    sa.Column("access_point_id", sa.Text, sa.ForeignKey("access_point.access_point_id")),
    sa.Column("referred_on", sa.Date, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("closed_on", sa.Date),
)

REGISTRY_TABLES: tuple[sa.Table, ...] = (
    area, access_point, household, person, programme, enrolment, referral,
)

# Columns that hold personal data: removed for roles that may not see persons.
PERSONAL_COLUMNS: frozenset[str] = frozenset(
    {"national_id", "first_name", "last_name", "father_name", "phone", "birth_date"}
)


class SchemaError(RuntimeError):
    """The registry does not meet the contract; the message lists every problem."""


@dataclass(frozen=True)
class SchemaProblem:
    table: str
    column: str | None
    problem: str

    def __str__(self) -> str:
        return self.problem


def _family(column_type: sa.types.TypeEngine) -> str:
    """The broad family a declared or reflected column type belongs to."""
    if isinstance(column_type, sa.Boolean):
        return "boolean"
    if isinstance(column_type, (sa.Date, sa.DateTime)):
        return "date"
    if isinstance(column_type, sa.Integer):
        return "integer"
    if isinstance(column_type, (sa.Float, sa.Numeric)):
        return "real"
    if isinstance(column_type, (sa.String, sa.Text)):
        return "text"
    if isinstance(column_type, sa.types.NullType):
        return "any"  # SQLite columns declared without a type accept anything
    return "other"


# Which reflected families can serve each contract family. SQLite has no date or boolean
# storage class: dates are ISO text and booleans 0/1 integers there, so text and integer
# serve too. Integer columns may hold real values' integral cases (pmt_score as INTEGER).
_COMPATIBLE: dict[str, set[str]] = {
    "text": {"text", "any"},
    "integer": {"integer", "any", "real"},
    "real": {"real", "integer", "any"},
    "date": {"date", "text", "any"},
    "boolean": {"boolean", "integer", "any"},
}


def _family_of_name(type_name: str) -> str:
    """The family of a type as DuckDB's information_schema names it (VARCHAR, BIGINT...)."""
    name = type_name.upper()
    if name.startswith(("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR")):
        return "text"
    if name == "BOOLEAN":
        return "boolean"
    if name.startswith(("DATE", "TIMESTAMP")):
        return "date"
    if name in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}:
        return "integer"
    if name.startswith(("DOUBLE", "FLOAT", "REAL", "DECIMAL", "NUMERIC")):
        return "real"
    return "other"


def column_families(engine: sa.Engine) -> dict[str, dict[str, tuple[str, str]]]:
    """table -> column (lower case) -> (family, the type as the database names it), for
    every table and view of the registry.

    DuckDB's columns come from information_schema: duckdb-engine's reflection queries
    ``pg_catalog.pg_collation``, which DuckDB lacks. Other backends use SQLAlchemy's
    inspector (SQLite's PRAGMA table_info, PostgreSQL's catalog).
    """
    found: dict[str, dict[str, tuple[str, str]]] = {}
    if engine.dialect.name == "duckdb":
        query = sa.text("SELECT table_name, column_name, data_type FROM information_schema.columns"
                        " WHERE table_schema = current_schema()")
        with engine.connect() as conn:
            for table, column, type_name in conn.execute(query):
                found.setdefault(str(table).lower(), {})[str(column).lower()] = (
                    _family_of_name(str(type_name)), str(type_name))
        return found
    inspector = sa.inspect(engine)
    for table in [*inspector.get_table_names(), *inspector.get_view_names()]:
        found[table.lower()] = {c["name"].lower(): (_family(c["type"]), str(c["type"]))
                                for c in inspector.get_columns(table)}
    return found


def check_schema(engine: sa.Engine) -> list[SchemaProblem]:
    """Every missing table or column and every incompatible column type of the registry."""
    present = column_families(engine)
    problems: list[SchemaProblem] = []
    for table in REGISTRY_TABLES:
        if table.name not in present:
            problems.append(SchemaProblem(table.name, None, f"table `{table.name}` is missing"))
            continue
        reflected = present[table.name]
        for column in table.columns:
            found = reflected.get(column.name)
            if found is None:
                problems.append(SchemaProblem(
                    table.name, column.name,
                    f"table `{table.name}` lacks column `{column.name}`"))
                continue
            want, (got, type_name) = _family(column.type), found
            if got not in _COMPATIBLE[want]:
                problems.append(SchemaProblem(
                    table.name, column.name,
                    f"column `{table.name}.{column.name}` is {type_name}, "
                    f"which cannot hold {want} values"))
    return problems


def require_schema(engine: sa.Engine) -> None:
    """Raise SchemaError listing every problem, in one message, if the registry breaks the contract."""
    problems = check_schema(engine)
    if problems:
        raise SchemaError(
            "The registry does not meet the contract: " + "; ".join(map(str, problems))
        )
