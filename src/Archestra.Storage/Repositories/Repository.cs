namespace Archestra.Storage;

/// <summary>
/// One resource's table and all of its SQL: list, and insert, update and delete inside a <see cref="StoreTransaction"/>
/// (so a change is written together with its change-log row; see <see cref="ArchestraStore.TransactAsync"/>). The
/// statements are shared by both dialects; the store converts the values.
/// </summary>
public abstract class Repository<TRow>
{
    private protected Repository(ArchestraStore store) => Store = store;

    private protected ArchestraStore Store { get; }

    /// <summary>The rows the admin API manages, in the order it lists them.</summary>
    public abstract Task<IReadOnlyList<TRow>> ListAsync(CancellationToken cancellationToken = default);

    public Task InsertAsync(StoreTransaction transaction, TRow row, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(row);
        return Insert(transaction, row, cancellationToken);
    }

    /// <summary>Rewrites the row's changeable columns (the key and the creation time stay).</summary>
    public Task UpdateAsync(StoreTransaction transaction, TRow row, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(row);
        return Update(transaction, row, cancellationToken);
    }

    public Task DeleteAsync(StoreTransaction transaction, TRow row, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(row);
        return Delete(transaction, row, cancellationToken);
    }

    private protected abstract Task Insert(StoreTransaction transaction, TRow row, CancellationToken cancellationToken);

    private protected virtual Task Update(StoreTransaction transaction, TRow row, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"{GetType().Name} rows are created and deleted, never changed");

    private protected abstract Task Delete(StoreTransaction transaction, TRow row, CancellationToken cancellationToken);

    /// <summary>Inserts one row in a transaction of its own, without a change-log row (seeding, tests).</summary>
    public Task InsertAsync(TRow row, CancellationToken cancellationToken = default) =>
        Store.TransactAsync(tx => InsertAsync(tx, row, cancellationToken), null, cancellationToken);
}
