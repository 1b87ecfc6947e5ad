namespace Archestra.Storage.Sqlite;

/// <summary>The SQLite schema: <see cref="Migrations"/> rendered in SQLite types.</summary>
internal static class SqliteSchema
{
    public const string CreateSchemaTable = """
        CREATE TABLE IF NOT EXISTS archestra_schema (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at INTEGER NOT NULL
        );
        """;

    public static Migration[] All => Migrations.Sqlite;
}
