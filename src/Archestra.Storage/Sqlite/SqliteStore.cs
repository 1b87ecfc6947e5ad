using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Archestra.Storage.Sqlite;

/// <summary>
/// The embedded database: one SQLite file in WAL mode (readers never block the audit writer), created with its
/// folder on first start. Values use SQLite's integer and blob types (see <see cref="SqliteSchema"/>).
/// </summary>
internal sealed class SqliteStore : ArchestraStore
{
    /// <summary>numeric(20,10) as an integer: 1e-10 USD units.</summary>
    internal const decimal MoneyScale = 10_000_000_000m;

    private readonly string _connectionString;

    public SqliteStore(StorageOptions options, ILoggerFactory loggerFactory)
        : base(options, loggerFactory)
    {
        var path = Path.GetFullPath(options.SqlitePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            ForeignKeys = true,
            // Seconds a statement waits on another connection's write lock (busy_timeout) before SQLITE_BUSY.
            DefaultTimeout = 30,
        }.ToString();
        Log.Opened(Logger, "SQLite", path);
    }

    public override StorageDialect Dialect => StorageDialect.Sqlite;

    internal string ConnectionString => _connectionString;

    internal override async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = (SqliteConnection)await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // WAL is a property of the file: set once, it stays.
        await ExecuteAsync(connection, null, "PRAGMA journal_mode = WAL", cancellationToken).ConfigureAwait(false);
        // BEGIN IMMEDIATE takes the write lock up front, so two processes migrating one file run one after the other.
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, transaction, SqliteSchema.CreateSchemaTable, cancellationToken).ConfigureAwait(false);
        var applied = new HashSet<int>();
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = "SELECT version FROM archestra_schema";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                applied.Add(reader.GetInt32(0));
            }
        }

        foreach (var migration in SqliteSchema.All)
        {
            if (applied.Contains(migration.Version))
            {
                continue;
            }

            await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken).ConfigureAwait(false);
            await using var record = connection.CreateCommand();
            record.Transaction = transaction;
            record.CommandText = "INSERT INTO archestra_schema (version, name, applied_at) VALUES (@version, @name, @applied_at)";
            record.Parameters.AddWithValue("@version", migration.Version);
            record.Parameters.AddWithValue("@name", migration.Name);
            record.Parameters.AddWithValue("@applied_at", AuditTime.ToUnixMicroseconds(DateTime.UtcNow));
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            Log.MigrationApplied(Logger, migration.Version, migration.Name);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    internal override IAuditSink CreateAuditSink() => new SqliteAuditSink(this, Options.MaxArgumentBytes, Options.WriteDeadline);

    public override ValueTask DisposeAsync()
    {
        // Pooled connections keep the file (and its -wal/-shm) open; release them so the folder can be removed.
        SqliteConnection.ClearAllPools();
        return ValueTask.CompletedTask;
    }

    internal async ValueTask<SqliteConnection> OpenSqliteAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            // NORMAL in WAL mode: a commit is durable against process crashes (kill -9), fsync happens at checkpoints.
            await ExecuteAsync(connection, null, "PRAGMA synchronous = NORMAL", cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private protected override async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await OpenSqliteAsync(cancellationToken).ConfigureAwait(false);

    internal static byte[] Uuid(Guid value) => value.ToByteArray(bigEndian: true);

    internal static long Money(decimal value) => decimal.ToInt64(decimal.Round(value * MoneyScale, MidpointRounding.ToEven));

    private protected override object Db(Guid value) => Uuid(value);

    private protected override object Db(DateTime utc) => AuditTime.ToUnixMicroseconds(utc);

    private protected override object DbMoney(decimal value) => Money(value);

    private protected override object Db(bool value) => value ? 1L : 0L;

    private protected override void AddJson(DbCommand command, string name, string json) => AddParameter(command, name, json);

    private protected override Guid ReadGuid(DbDataReader reader, int ordinal) => new(reader.GetFieldValue<byte[]>(ordinal), bigEndian: true);

    private protected override DateTime ReadTime(DbDataReader reader, int ordinal) => AuditTime.FromUnixMicroseconds(reader.GetInt64(ordinal));

    private protected override decimal ReadMoney(DbDataReader reader, int ordinal) => reader.GetInt64(ordinal) / MoneyScale;

    private protected override string DayOf(string column) => string.Create(CultureInfo.InvariantCulture, $"({column} / 86400000000) * 86400000000");

    private protected override string SumInt(string expression) => $"sum({expression})";

    private static async Task ExecuteAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
