using System.Data.Common;
using System.Globalization;

namespace Archestra.Gateway.Storage;

/// <summary>A JSON parameter (jsonb in PostgreSQL, TEXT in SQLite).</summary>
internal readonly record struct StoreJson(string Text);

/// <summary>One row of a <see cref="ArchestraStore.QueryAsync{T}"/> result, read with the dialect's conversions.</summary>
internal readonly struct StoreRow
{
    private readonly ArchestraStore _store;
    private readonly DbDataReader _reader;

    internal StoreRow(ArchestraStore store, DbDataReader reader)
    {
        _store = store;
        _reader = reader;
    }

    public bool IsNull(int ordinal) => _reader.IsDBNull(ordinal);

    public object Value(int ordinal) => _reader.GetValue(ordinal);

    public string String(int ordinal) => _reader.GetString(ordinal);

    public string? NullableString(int ordinal) => _reader.IsDBNull(ordinal) ? null : _reader.GetString(ordinal);

    public long Long(int ordinal) => Convert.ToInt64(_reader.GetValue(ordinal), CultureInfo.InvariantCulture);

    public bool Bool(int ordinal) => Convert.ToBoolean(_reader.GetValue(ordinal), CultureInfo.InvariantCulture);

    public Guid Guid(int ordinal) => _store.RowGuid(_reader, ordinal);

    public DateTime Time(int ordinal) => _store.RowTime(_reader, ordinal);

    public DateTime? NullableTime(int ordinal) => _reader.IsDBNull(ordinal) ? null : _store.RowTime(_reader, ordinal);

    public decimal Money(int ordinal) => _store.RowMoney(_reader, ordinal);

    public decimal? NullableMoney(int ordinal) => _reader.IsDBNull(ordinal) ? null : _store.RowMoney(_reader, ordinal);
}

/// <summary>Statements run inside one transaction by <see cref="ArchestraStore.TransactAsync"/>.</summary>
internal sealed class StoreTransaction
{
    private readonly ArchestraStore _store;
    private readonly DbConnection _connection;
    private readonly DbTransaction _transaction;

    internal StoreTransaction(ArchestraStore store, DbConnection connection, DbTransaction transaction)
    {
        _store = store;
        _connection = connection;
        _transaction = transaction;
    }

    /// <summary>Runs one statement; parameter values are converted for the dialect (Guid, DateTime, bool, decimal money, <see cref="StoreJson"/>).</summary>
    public async Task<int> ExecuteAsync(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = _connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText = sql;
        _store.Bind(command, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// Generic access for the admin API's resources: parameterised SQL shared by both dialects, values converted by the
/// dialect. Each change runs in one transaction together with its admin change-log row.
/// </summary>
public abstract partial class ArchestraStore
{
    internal Guid RowGuid(DbDataReader reader, int ordinal) => ReadGuid(reader, ordinal);

    internal DateTime RowTime(DbDataReader reader, int ordinal) => ReadTime(reader, ordinal);

    internal decimal RowMoney(DbDataReader reader, int ordinal) => ReadMoney(reader, ordinal);

    internal void Bind(DbCommand command, (string Name, object? Value)[] parameters)
    {
        foreach (var (name, value) in parameters)
        {
            switch (value)
            {
                case StoreJson json:
                    AddJson(command, name, json.Text);
                    break;
                case Guid guid:
                    AddParameter(command, name, Db(guid));
                    break;
                case DateTime time:
                    AddParameter(command, name, Db(AuditTime.Truncate(time)));
                    break;
                case bool flag:
                    AddParameter(command, name, Db(flag));
                    break;
                case decimal money:
                    AddParameter(command, name, DbMoney(money));
                    break;
                default:
                    AddParameter(command, name, value);
                    break;
            }
        }
    }

    internal async Task<List<T>> QueryAsync<T>(string sql, Func<StoreRow, T> map, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        Bind(command, parameters);
        var result = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(map(new StoreRow(this, reader)));
        }

        return result;
    }

    /// <summary>Records that an admin key was used (not a change: no change-log row).</summary>
    internal async Task TouchAdminKeyAsync(Guid id, DateTime time, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "UPDATE admin_keys SET last_used_at = @time WHERE id = @id";
        Bind(command, [("id", id), ("time", time)]);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="work"/> and records <paramref name="change"/> in one transaction: both or neither.</summary>
    internal async Task TransactAsync(Func<StoreTransaction, Task> work, AdminChange change, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var tx = new StoreTransaction(this, connection, transaction);
        await work(tx).ConfigureAwait(false);
        await tx.ExecuteAsync(
            "INSERT INTO admin_changes (id, time, actor, action, resource_kind, resource_id, details) VALUES (@id, @time, @actor, @action, @kind, @resource, @details)",
            cancellationToken,
            ("id", change.Id), ("time", change.Time), ("actor", change.Actor), ("action", change.Action),
            ("kind", change.ResourceKind), ("resource", change.ResourceId), ("details", new StoreJson(change.DetailsJson))).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }
}
