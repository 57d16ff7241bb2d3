-- Muster's schema. `muster migrate` creates the schema (default "muster"; --schema picks
-- another), sets search_path to it and runs each file in its own transaction, so no file
-- names the schema.

DO $$
BEGIN
    EXECUTE format(
        'COMMENT ON SCHEMA %I IS %L',
        current_schema(),
        'Muster: a durable task queue with fan-out/fan-in barriers. Tables and views here are '
        'documented with COMMENT ON; see docs/sql-debugging.md for on-call queries.'
    );
END
$$;
