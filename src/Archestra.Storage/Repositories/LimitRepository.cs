namespace Archestra.Storage;

/// <summary>A usage limit of one profile (the <c>target</c>).</summary>
/// <param name="Kind"><c>tokens</c> (a whole number) or <c>cost</c> (US dollars).</param>
/// <param name="Period"><c>day</c>, <c>month</c> or <c>total</c>.</param>
public sealed record LimitRow(Guid Id, string Target, string Kind, string Period, decimal Amount, bool Enabled, DateTime CreatedAt, DateTime UpdatedAt);

/// <summary><c>limits</c>: the admin API's per-profile limits.</summary>
public sealed class LimitRepository : Repository<LimitRow>
{
    internal LimitRepository(ArchestraStore store)
        : base(store) { }

    public override async Task<IReadOnlyList<LimitRow>> ListAsync(CancellationToken cancellationToken = default) =>
        await Store
            .QueryAsync(
                "SELECT id, target, kind, period, amount, enabled, created_at, updated_at FROM limits WHERE scope = 'profile' AND managed_by = 'api' ORDER BY "
                    + "created_at, id",
                static r =>
                {
                    // Token limits are whole numbers stored as such; USD ones are money (exact decimals in both dialects).
                    var tokens = r.String(2) == "tokens";
                    return new LimitRow(
                        r.Guid(0),
                        r.NullableString(1) ?? "",
                        r.String(2),
                        r.String(3),
                        tokens ? r.Long(4) : r.Money(4),
                        r.Bool(5),
                        r.Time(6),
                        r.Time(7)
                    );
                },
                cancellationToken
            )
            .ConfigureAwait(false);

    private protected override Task Insert(StoreTransaction transaction, LimitRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "INSERT INTO limits (id, scope, target, kind, period, amount, action, enabled, managed_by, created_at, updated_at) VALUES (@id, "
                + "'profile', @target, @kind, @period, @amount, 'block', @enabled, 'api', @created, @updated)",
            cancellationToken,
            [.. Parameters(row), ("enabled", row.Enabled), ("created", row.CreatedAt)]
        );

    private protected override Task Update(StoreTransaction transaction, LimitRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "UPDATE limits SET target = @target, kind = @kind, period = @period, amount = @amount, updated_at = @updated WHERE id = @id",
            cancellationToken,
            Parameters(row)
        );

    private protected override Task Delete(StoreTransaction transaction, LimitRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync("DELETE FROM limits WHERE id = @id", cancellationToken, ("id", row.Id));

    // A boxed long for tokens: a decimal would be bound as money (SQLite: units of 1e-10, overflowing at ~9.2e8).
    private static (string, object?)[] Parameters(LimitRow row) =>
        [
            ("id", row.Id),
            ("target", row.Target),
            ("kind", row.Kind),
            ("period", row.Period),
            ("amount", row.Kind == "tokens" ? (object)decimal.ToInt64(row.Amount) : row.Amount),
            ("updated", row.UpdatedAt),
        ];
}
