namespace Archestra.Storage;

/// <summary>
/// An optimization rule as stored: <see cref="ProfilesJson"/> a JSON array of profile names, <see cref="ConditionsJson"/> a JSON object.
/// </summary>
public sealed record OptimizationRuleRow(
    Guid Id,
    string ProfilesJson,
    string ConditionsJson,
    string TargetModel,
    bool Enabled,
    DateTime CreatedAt,
    DateTime UpdatedAt
);

/// <summary><c>optimization_rules</c>: the admin API's rules (the row's name is its id).</summary>
public sealed class OptimizationRuleRepository : Repository<OptimizationRuleRow>
{
    internal OptimizationRuleRepository(ArchestraStore store)
        : base(store) { }

    public override async Task<IReadOnlyList<OptimizationRuleRow>> ListAsync(CancellationToken cancellationToken = default) =>
        await Store
            .QueryAsync(
                "SELECT id, profiles, conditions, target_model, enabled, created_at, updated_at FROM optimization_rules "
                    + "WHERE managed_by = 'api' ORDER BY created_at, id",
                static r => new OptimizationRuleRow(r.Guid(0), r.String(1), r.String(2), r.String(3), r.Bool(4), r.Time(5), r.Time(6)),
                cancellationToken
            )
            .ConfigureAwait(false);

    private protected override Task Insert(StoreTransaction transaction, OptimizationRuleRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "INSERT INTO optimization_rules (id, name, profiles, conditions, target_model, enabled, managed_by, created_at, updated_at) VALUES (@id, "
                + "@name, @profiles, @conditions, @target, @enabled, 'api', @created, @updated)",
            cancellationToken,
            [.. Parameters(row), ("name", row.Id.ToString("D")), ("created", row.CreatedAt)]
        );

    private protected override Task Update(StoreTransaction transaction, OptimizationRuleRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync(
            "UPDATE optimization_rules SET profiles = @profiles, conditions = @conditions, target_model = @target, enabled = @enabled, updated_at = "
                + "@updated WHERE id = @id",
            cancellationToken,
            Parameters(row)
        );

    private protected override Task Delete(StoreTransaction transaction, OptimizationRuleRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync("DELETE FROM optimization_rules WHERE id = @id", cancellationToken, ("id", row.Id));

    private static (string, object?)[] Parameters(OptimizationRuleRow row) =>
        [
            ("id", row.Id),
            ("profiles", new StoreJson(row.ProfilesJson)),
            ("conditions", new StoreJson(row.ConditionsJson)),
            ("target", row.TargetModel),
            ("enabled", row.Enabled),
            ("updated", row.UpdatedAt),
        ];
}
