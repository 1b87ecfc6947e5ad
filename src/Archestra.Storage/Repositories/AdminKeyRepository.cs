namespace Archestra.Storage;

/// <summary><c>admin_keys</c>: only each key's SHA-256 is stored; the key is shown once, at creation.</summary>
public sealed class AdminKeyRepository : Repository<AdminKeyRow>
{
    private const string Columns = "SELECT id, name, key_hash, scope, managed_by, created_at, last_used_at FROM admin_keys";

    internal AdminKeyRepository(ArchestraStore store)
        : base(store) { }

    /// <summary>The keys that are not revoked.</summary>
    public override async Task<IReadOnlyList<AdminKeyRow>> ListAsync(CancellationToken cancellationToken = default) =>
        await Store.QueryAsync(Columns + " WHERE revoked_at IS NULL ORDER BY created_at, name", Read, cancellationToken).ConfigureAwait(false);

    /// <summary>The key whose SHA-256 is <paramref name="keyHash"/>, unless revoked.</summary>
    public async Task<AdminKeyRow?> FindAsync(byte[] keyHash, CancellationToken cancellationToken = default) =>
        (
            await Store.QueryAsync(Columns + " WHERE key_hash = @hash AND revoked_at IS NULL", Read, cancellationToken, ("hash", keyHash)).ConfigureAwait(false)
        ).FirstOrDefault();

    /// <summary>Records that a key was used (not a change: no change-log row).</summary>
    public Task TouchAsync(Guid id, DateTime time, CancellationToken cancellationToken = default) =>
        Store.TransactAsync(
            tx => tx.ExecuteAsync("UPDATE admin_keys SET last_used_at = @time WHERE id = @id", cancellationToken, ("id", id), ("time", time)),
            null,
            cancellationToken
        );

    private protected override Task Insert(StoreTransaction transaction, AdminKeyRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "INSERT INTO admin_keys (id, name, key_hash, scope, managed_by, created_at, updated_at) VALUES (@id, @name, @hash, @scope, @managed_by, "
                + "@created, @created)",
            cancellationToken,
            ("id", row.Id),
            ("name", row.Name),
            ("hash", row.KeyHash),
            ("scope", row.ReadWrite ? "read-write" : "read-only"),
            ("managed_by", ArchestraStore.ManagedByText(row.ManagedBy)),
            ("created", row.CreatedAt)
        );

    private protected override Task Delete(StoreTransaction transaction, AdminKeyRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync("DELETE FROM admin_keys WHERE id = @id", cancellationToken, ("id", row.Id));

    private static AdminKeyRow Read(StoreRow r) =>
        new(r.Guid(0), r.String(1), (byte[])r.Value(2), r.String(3) == "read-write", ArchestraStore.ParseManagedBy(r.String(4)), r.Time(5), r.NullableTime(6));
}
