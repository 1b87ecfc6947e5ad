using System.Data.Common;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Archestra.Storage.Postgres;

/// <summary>PostgreSQL through Npgsql's slim (trimming- and AOT-safe) data source.</summary>
internal sealed partial class PostgresStore : ArchestraStore
{
    private readonly NpgsqlDataSource _dataSource;

    public PostgresStore(StorageOptions options, ILoggerFactory loggerFactory)
        : base(options, loggerFactory)
    {
        var connectionString = PostgresUrl.ToConnectionString(options.DatabaseUrl!);
        var builder = new NpgsqlSlimDataSourceBuilder(connectionString);
        builder.UseLoggerFactory(loggerFactory);
        _dataSource = builder.Build();
        Log.Opened(Logger, "PostgreSQL", PostgresUrl.Redact(options.DatabaseUrl!));
    }

    public override StorageDialect Dialect => StorageDialect.Postgres;

    internal NpgsqlDataSource DataSource => _dataSource;

    internal override async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // Replicas starting together queue here; the first applies what is missing, the rest find nothing to do.
        await ExecuteAsync(connection, $"SELECT pg_advisory_lock({PostgresSchema.MigrationLockKey})", cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(connection, PostgresSchema.CreateSchemaTable, cancellationToken).ConfigureAwait(false);
            var applied = new HashSet<int>();
            await using (var command = new NpgsqlCommand("SELECT version FROM archestra_schema", connection))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    applied.Add(reader.GetInt32(0));
                }
            }

            foreach (var migration in PostgresSchema.All)
            {
                if (applied.Contains(migration.Version))
                {
                    continue;
                }

                await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(connection, migration.Sql, cancellationToken).ConfigureAwait(false);
                await using (var record = new NpgsqlCommand("INSERT INTO archestra_schema (version, name) VALUES (@version, @name)", connection))
                {
                    record.Parameters.AddWithValue("version", migration.Version);
                    record.Parameters.AddWithValue("name", migration.Name);
                    await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                Log.MigrationApplied(Logger, migration.Version, migration.Name);
            }
        }
        finally
        {
            await ExecuteAsync(connection, $"SELECT pg_advisory_unlock({PostgresSchema.MigrationLockKey})", CancellationToken.None).ConfigureAwait(false);
        }
    }

    internal override IAuditSink CreateAuditSink() => new PostgresAuditSink(_dataSource, Options.MaxArgumentBytes);

    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private protected override async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    private protected override object Db(Guid value) => value;

    private protected override object Db(DateTime utc) => DateTime.SpecifyKind(utc, DateTimeKind.Utc);

    private protected override object DbMoney(decimal value) => value;

    private protected override object Db(bool value) => value;

    private protected override void AddJson(DbCommand command, string name, string json) =>
        command.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Jsonb) { Value = json });

    private protected override Guid ReadGuid(DbDataReader reader, int ordinal) => reader.GetGuid(ordinal);

    private protected override DateTime ReadTime(DbDataReader reader, int ordinal) => DateTime.SpecifyKind(reader.GetDateTime(ordinal), DateTimeKind.Utc);

    private protected override decimal ReadMoney(DbDataReader reader, int ordinal) => reader.GetDecimal(ordinal);

    private protected override string DayOf(string column) => $"date_trunc('day', {column}, 'UTC')";

    private protected override string SumInt(string expression) => $"sum({expression})::bigint";

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
