namespace Archestra.Storage;

/// <summary><c>admin_changes</c>: the admin API's change log, written in each change's own transaction (<see cref="ArchestraStore.TransactAsync"/>).</summary>
public sealed class AdminChangeRepository
{
    private readonly ArchestraStore _store;

    internal AdminChangeRepository(ArchestraStore store) => _store = store;

    /// <summary>Records a change that wrote nothing else (a restart, say).</summary>
    public Task RecordAsync(AdminChange change, CancellationToken cancellationToken = default) =>
        _store.TransactAsync(static _ => Task.CompletedTask, change, cancellationToken);

    /// <summary>The newest <paramref name="limit"/> changes, newest first.</summary>
    public async Task<IReadOnlyList<AdminChange>> ListAsync(int limit = 100, CancellationToken cancellationToken = default) =>
        await _store
            .QueryAsync(
                "SELECT id, time, actor, action, resource_kind, resource_id, details FROM admin_changes ORDER BY time DESC, id DESC LIMIT @limit",
                static r => new AdminChange(r.Guid(0), r.Time(1), r.String(2), r.String(3), r.String(4), r.String(5), r.String(6)),
                cancellationToken,
                ("limit", limit)
            )
            .ConfigureAwait(false);

    internal static Task InsertAsync(StoreTransaction transaction, AdminChange change, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "INSERT INTO admin_changes (id, time, actor, action, resource_kind, resource_id, details) VALUES (@id, @time, @actor, @action, @kind, "
                + "@resource, @details)",
            cancellationToken,
            ("id", change.Id),
            ("time", change.Time),
            ("actor", change.Actor),
            ("action", change.Action),
            ("kind", change.ResourceKind),
            ("resource", change.ResourceId),
            ("details", new StoreJson(change.DetailsJson))
        );
}
