using System.Data.Common;
using System.Globalization;

namespace Archestra.Storage;

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

/// <summary>Statements run inside one transaction by <see cref="ArchestraStore.TransactAsync"/>; the repositories write through it.</summary>
public sealed class StoreTransaction
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
    internal async Task<int> ExecuteAsync(string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = _connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText = sql;
        _store.Bind(command, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// What the repositories run their SQL with: parameterised statements shared by both dialects, values converted by
/// the dialect. Each change runs in one transaction together with its admin change-log row.
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

    internal async Task<List<T>> QueryAsync<T>(
        string sql,
        Func<StoreRow, T> map,
        CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters
    )
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

    /// <summary>
    /// Runs <paramref name="work"/> (repository writes) and records <paramref name="change"/> (when given) in one
    /// transaction: all or nothing.
    /// </summary>
    public async Task TransactAsync(Func<StoreTransaction, Task> work, AdminChange? change, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var tx = new StoreTransaction(this, connection, transaction);
        await work(tx).ConfigureAwait(false);
        if (change is not null)
        {
            await AdminChangeRepository.InsertAsync(tx, change, cancellationToken).ConfigureAwait(false);
            await NotifyAsync(tx, change.ResourceKind, cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }
}
