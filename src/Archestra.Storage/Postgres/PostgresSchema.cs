namespace Archestra.Storage.Postgres;

/// <summary>The PostgreSQL schema: <see cref="Migrations"/> rendered in PostgreSQL types.</summary>
internal static class PostgresSchema
{
    /// <summary>pg_advisory_lock key that serializes migrations across replicas: "ARCHESTRA" folded into 63 bits.</summary>
    public const long MigrationLockKey = 0x4152_4348_4553_5452;

    public const string CreateSchemaTable = """
        CREATE TABLE IF NOT EXISTS archestra_schema (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
        """;

    public static Migration[] All => Migrations.Postgres;
}
